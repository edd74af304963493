// SwiftMPI: the MPI implementation of `Communicator` (placeholder until the wrapper lands).
import Collectives
