// MPIRecordReduction: the MPI datatype and user-defined operation behind `SumMaxRecord`
// reductions: one contiguous 320-byte datatype (`MPI_Type_contiguous` of `MPI_BYTE`, so MPI may
// split a message between records but never inside one) and a commutative operation
// (`MPI_Op_create`, MPI 4.0 §6.9.5) that adds the Int32 lanes and takes the max of the Int8 lanes.
// Made once per communicator on first use; `MPI_Finalize` frees them.

import CMPI
import Collectives

struct MPIRecordReduction {
    let datatype: OpaquePointer
    let op: OpaquePointer

    static func make() throws -> MPIRecordReduction {
        var type: OpaquePointer? = nil
        try MPIRuntime.check(MPI_Type_contiguous(Int32(SumMaxRecord.wireBytes), cmpi_byte(), &type), "MPI_Type_contiguous")
        try MPIRuntime.check(MPI_Type_commit(&type), "MPI_Type_commit")
        var op: OpaquePointer? = nil
        try MPIRuntime.check(MPI_Op_create(combineSumMaxRecords, 1, &op), "MPI_Op_create")
        guard let type, let op else { throw CommError.mpi(call: "MPI_Op_create", code: -1, message: "no handle returned") }
        return MPIRecordReduction(datatype: type, op: op)
    }
}

/// The `MPI_User_function` of records: `inout[i] = inout[i] ⊕ input[i]` for `*len` records.
private func combineSumMaxRecords(_ input: UnsafeMutableRawPointer?, _ output: UnsafeMutableRawPointer?,
                                  _ len: UnsafeMutablePointer<Int32>?, _ type: UnsafeMutablePointer<MPI_Datatype?>?) {
    guard let input, let output, let len else { return }
    SumMaxRecord.combine(UnsafeRawPointer(input), into: output, count: Int(len.pointee))
}
