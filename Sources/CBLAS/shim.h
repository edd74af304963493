// CBLAS: OpenBLAS's CBLAS interface (pkg-config `openblas`; Debian has no `cblas.pc`). No stable API.
#ifndef FOCAL_CBLAS_SHIM_H
#define FOCAL_CBLAS_SHIM_H
#include <cblas.h>
#endif
