// TrainingRunOutputs: the run's outputs checked completely before any data is loaded — distinct from
// every input and from each other, writable, names not too long — and the checkpoint directory locked.
import Collectives
import FocalFormats
#if canImport(Glibc)
import Glibc
#endif

extension TrainingRun {
    // MARK: - Phase: outputs (before load)

    /// Rank 0 checks every output and takes the `--checkpoint-dir` lock (agreed: every rank throws
    /// the same error). An output that is the same file as an input or as another output is a
    /// usage error (exit 2); an unwritable one, or a directory held by a running job, exit 3.
    func checkOutputs() throws {
        try comm.agree {
            guard comm.rank == 0 else { return }
            try FileIO.checkDistinct(inputs: inputFiles, outputs: outputFiles)
            try checkOutputPaths()
            if let dir = config.checkpointDir {
                let created = mkdir(dir, 0o755) == 0
                if !created && errno != EEXIST {
                    throw FileError.check("--checkpoint-dir \(dir)", "cannot create the directory (\(errnoText()))")
                }
                do {
                    checkpointLock = try DirectoryLock(dir, option: "--checkpoint-dir", createdDirectory: created)
                } catch {
                    if created { _ = rmdir(dir) }
                    throw error
                }
            }
        }
    }

    /// Every output path can be written: files (`FileIO.checkWritable`: kind, directory, name
    /// length) and directories (`checkCreatableDirectory`).
    func checkOutputPaths() throws {
        if let path = config.metricsOut { try FileIO.checkWritable(path, option: "--metrics-out") }
        if let path = config.saveModel { try FileIO.checkWritable(path, option: "--save-model") }
        if let dir = config.plotsDir { try FileIO.checkCreatableDirectory(dir, option: "--plots") }
        if let dir = config.checkpointDir { try FileIO.checkCreatableDirectory(dir, option: "--checkpoint-dir") }
    }

    /// The files the run reads, with their options (a `--resume` directory is not a file).
    var inputFiles: [(option: String, path: String)] {
        var out: [(option: String, path: String)] = []
        switch config.input {
        case .generated: break
        case let .files(train, trainLabels, test, testLabels, _):
            out += [("--train-data", train), ("--train-labels", trainLabels)]
            if let test { out.append(("--test-data", test)) }
            if let testLabels { out.append(("--test-labels", testLabels)) }
        case let .csv(train, test, _, _):
            out.append(("--train-data", train))
            if let test { out.append(("--test-data", test)) }
        }
        if let path = config.initFile { out.append(("--init", path)) }
        if let path = config.resume, path != Checkpoint.auto {
            var st = stat()
            if stat(path, &st) != 0 || (st.st_mode & S_IFMT) != S_IFDIR { out.append(("--resume", path)) }
        }
        return out
    }

    /// The files and directories the run writes, with their options.
    var outputFiles: [(option: String, path: String)] {
        [("--metrics-out", config.metricsOut), ("--save-model", config.saveModel),
         ("--plots", config.plotsDir), ("--checkpoint-dir", config.checkpointDir)]
            .compactMap { o, p in p.map { (o, $0) } }
    }
}
