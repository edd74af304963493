// BLASKernelTests: the notice for OpenBLAS kernels older than the CPU (BLASKernel.swift).
import FocalCore
import XCTest

final class BLASKernelTests: XCTestCase {
    func testNoticeOnlyForOldKernelsOnNewerCPUsUnlessPinned() throws {
        let avx512: Set<String> = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl"]
        let avx2: Set<String> = ["sse4_2", "avx", "avx2", "fma"]
        let notice = try XCTUnwrap(blasKernelNotice(core: "Prescott", flags: avx512, pinned: false))
        XCTAssertTrue(notice.contains("Prescott") && notice.contains("OPENBLAS_CORETYPE=SkylakeX"), notice)
        XCTAssertTrue(try XCTUnwrap(blasKernelNotice(core: "Nehalem", flags: avx2, pinned: false)).contains("OPENBLAS_CORETYPE=Haswell"))
        XCTAssertNil(blasKernelNotice(core: "Prescott", flags: avx512, pinned: true), "the user chose it")
        XCTAssertNil(blasKernelNotice(core: "SkylakeX", flags: avx512, pinned: false))
        XCTAssertNil(blasKernelNotice(core: "Haswell", flags: avx2, pinned: false))
        XCTAssertNil(blasKernelNotice(core: "Prescott", flags: ["sse3"], pinned: false), "an old CPU: the right kernels")
        XCTAssertFalse(blasCoreName.isEmpty)
    }
}
