print("focal-mpi-check")
