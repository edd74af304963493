// MPIProgressBoard: the progress board over MPI point-to-point messages on the world
// communicator (user tags, which never match the collectives' own traffic). Each post sends the
// rank's collective count, one 8-byte MPI_Isend to every other rank (delivered eagerly: it
// completes without the receiver's help); the first post also sends the host name. Every 32nd
// post and each report drain what has arrived (MPI_Iprobe + MPI_Recv), so unexpected messages
// do not pile up. Nothing here ever waits for another rank.

import CMPI
import Collectives
#if canImport(Glibc)
import Glibc
#endif

final class MPIProgressBoard: ProgressBoard {
    private let comm: OpaquePointer
    private let rank: Int
    private let size: Int
    static let countTag: Int32 = 0x4644_0001
    static let hostTag: Int32 = 0x4644_0002
    /// Collectives this rank has entered.
    private var entered: Int64 = 0
    /// Latest count heard from each rank (own included). Shape [size].
    private var heard: [Int64]
    /// Host of each rank, once heard. Shape [size].
    private var hosts: [String?]
    /// Sends in flight and the buffers they read from (freed once complete).
    private var inFlight: [(request: OpaquePointer?, buffer: UnsafeMutableRawPointer)] = []
    private let hostName: [UInt8]

    init(comm: OpaquePointer, rank: Int, size: Int, host: String) {
        self.comm = comm
        self.rank = rank
        self.size = size
        heard = [Int64](repeating: 0, count: size)
        hosts = [String?](repeating: nil, count: size)
        hosts[rank] = host
        hostName = Array(host.utf8.prefix(255))
    }

    func post() {
        // Arrived announcements and completed sends are collected every 32 posts (the queues
        // stay short; a post is then little more than the sends).
        if entered % 32 == 0 {
            drain()
            reap()
        }
        entered += 1
        heard[rank] = entered
        if entered == 1 { send(hostName.withUnsafeBytes { Array($0) }, tag: Self.hostTag, datatype: cmpi_uint8()) }
        var value = entered
        send(withUnsafeBytes(of: &value) { Array($0) }, tag: Self.countTag, datatype: cmpi_int64(), elementSize: 8)
    }

    func laggards() -> [(rank: Int, host: String?)] {
        drain()
        return (0..<size).filter { heard[$0] < entered }.map { ($0, hosts[$0]) }
    }

    /// One MPI_Isend of `bytes` to every other rank; errors are ignored (the board only informs).
    private func send(_ bytes: [UInt8], tag: Int32, datatype: OpaquePointer, elementSize: Int = 1) {
        for peer in 0..<size where peer != rank {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
            bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            var request: OpaquePointer? = cmpi_request_null()
            if MPI_Isend(buffer, Int32(bytes.count / elementSize), datatype, Int32(peer), tag, comm, &request) == MPI_SUCCESS {
                inFlight.append((request, buffer))
            } else {
                buffer.deallocate()
            }
        }
    }

    /// Frees the buffers of completed sends (MPI_Test).
    private func reap() {
        var kept: [(request: OpaquePointer?, buffer: UnsafeMutableRawPointer)] = []
        for var item in inFlight {
            var done: Int32 = 0
            if MPI_Test(&item.request, &done, cmpi_status_ignore()) == MPI_SUCCESS, done != 0 {
                item.buffer.deallocate()
            } else {
                kept.append(item)
            }
        }
        inFlight = kept
    }

    /// Receives every announcement that has arrived.
    private func drain() {
        for tag in [Self.hostTag, Self.countTag] {
            while true {
                var flag: Int32 = 0
                var status = MPI_Status()
                guard MPI_Iprobe(cmpi_any_source(), tag, comm, &flag, &status) == MPI_SUCCESS, flag != 0 else { break }
                let source = Int(cmpi_status_source(&status))
                if tag == Self.countTag {
                    var value: Int64 = 0
                    guard MPI_Recv(&value, 1, cmpi_int64(), Int32(source), tag, comm, cmpi_status_ignore()) == MPI_SUCCESS else { break }
                    if (0..<size).contains(source) { heard[source] = max(heard[source], value) }
                } else {
                    var count: Int32 = 0
                    MPI_Get_count(&status, cmpi_uint8(), &count)
                    var bytes = [UInt8](repeating: 0, count: Int(max(count, 1)))
                    guard MPI_Recv(&bytes, count, cmpi_uint8(), Int32(source), tag, comm, cmpi_status_ignore()) == MPI_SUCCESS else { break }
                    if (0..<size).contains(source) { hosts[source] = String(decoding: bytes.prefix(Int(count)), as: UTF8.self) }
                }
            }
        }
    }
}

extension MPICommunicator: ProgressBoardProviding {}
