// CMPI: OpenMPI's C API for Swift, plus accessors for what Swift cannot import. No stable API.
//
// OpenMPI defines its predefined handles as macros over the addresses of global structs of
// incomplete type, e.g. `#define MPI_COMM_WORLD OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)`.
// Swift's importer skips such macros ("cannot find 'MPI_COMM_WORLD' in scope"), so each handle the
// wrapper needs is exposed here as a prefixed `static inline` function. `MPI_SUCCESS` and the
// `MPI_THREAD_*` levels are plain integer macros and import directly; they are not repeated here.
#ifndef FOCAL_CMPI_SHIM_H
#define FOCAL_CMPI_SHIM_H
#include <mpi.h>

// MARK: - Communicators
/// `MPI_COMM_WORLD`: a macro over `&ompi_mpi_comm_world` (incomplete type).
static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
/// `MPI_COMM_NULL`: same kind of macro.
static inline MPI_Comm cmpi_comm_null(void) { return MPI_COMM_NULL; }

// MARK: - Datatypes (each a macro over the address of a predefined datatype object)
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype cmpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype cmpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype cmpi_char(void) { return MPI_CHAR; }

// MARK: - Reduction operations (macros over predefined op objects)
static inline MPI_Op cmpi_op_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_op_max(void) { return MPI_MAX; }
static inline MPI_Op cmpi_op_min(void) { return MPI_MIN; }

// MARK: - Sentinels
/// `MPI_IN_PLACE`: `((void *) 1)`, a cast the importer does not evaluate.
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
/// `MPI_STATUS_IGNORE`: `((MPI_Status *) 0)`, likewise a cast.
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
/// `MPI_STATUSES_IGNORE`: `((MPI_Status *) 0)`; needed by `MPI_Testall`/`MPI_Waitall` when a
/// non-blocking allreduce was split into several requests.
static inline MPI_Status *cmpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
/// `MPI_REQUEST_NULL`: a macro over `&ompi_request_null`.
static inline MPI_Request cmpi_request_null(void) { return MPI_REQUEST_NULL; }
/// `MPI_ERRORS_RETURN`: error handler macro; we return errors instead of aborting.
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
/// `MPI_MAX_ERROR_STRING` / `MPI_MAX_PROCESSOR_NAME` do import, but keep the sizes in one place.
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int cmpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
/// `MPI_ANY_SOURCE`, and the source of a received message (`status.MPI_SOURCE`).
static inline int cmpi_any_source(void) { return MPI_ANY_SOURCE; }
static inline int cmpi_status_source(const MPI_Status *status) { return status->MPI_SOURCE; }

#endif
