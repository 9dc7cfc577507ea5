import Foundation

/// Runs the independent implementations HNA is cross-checked against (scapy, tshark).
///
/// Locally a missing tool skips its tests (`scripts/test` installs them); under CI (the `CI` variable
/// set) the tests run anyway and fail on the missing tool, so CI can never pass by skipping.
public enum ExternalTool {
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: String
        public var text: String { String(decoding: stdout, as: UTF8.self) }
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static var mustRun: Bool { ProcessInfo.processInfo.environment["CI"] != nil }

    /// True when `command` is on PATH (and, for python modules, importable).
    public static func available(_ command: String, pythonModule: String? = nil) -> Bool {
        guard let out = try? run("/bin/sh", ["-c", "command -v \(command)"]), out.status == 0 else { return false }
        if let pythonModule {
            return (try? run(command, ["-c", "import \(pythonModule)"]))?.status == 0
        }
        return true
    }

    public static var scapy: Bool { available("python3", pythonModule: "scapy") }
    public static var tshark: Bool { available("tshark") }

    /// Runs `executable` (looked up on PATH when not absolute) and collects its output.
    public static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws -> Output {
        let p = Process()
        if executable.hasPrefix("/") {
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = arguments
        } else {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = [executable] + arguments
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        if let stdin {
            let inPipe = Pipe()
            p.standardInput = inPipe
            try p.run()
            inPipe.fileHandleForWriting.write(stdin)
            try inPipe.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        // Read both pipes before waiting so a chatty tool cannot block on a full pipe.
        let errData = Locked(Data())
        let t = Thread { errData.value = err.fileHandleForReading.readDataToEndOfFile() }
        t.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        while !errData.done { usleep(1000) }
        return Output(status: p.terminationStatus, stdout: outData, stderr: String(decoding: errData.value, as: UTF8.self))
    }

    /// Runs a tool and throws unless it exits 0.
    public static func check(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws -> Output {
        let o = try run(executable, arguments, stdin: stdin)
        guard o.status == 0 else {
            throw Failure(description: "\(executable) \(arguments.joined(separator: " ")) exited \(o.status): \(o.stderr)")
        }
        return o
    }

    /// A fresh temporary directory.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("hna-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// A value written by one thread and read by another after `done`.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: T
    private var _done = false
    init(_ v: T) { _value = v }
    var value: T {
        get { lock.lock(); defer { lock.unlock() }; return _value }
        set { lock.lock(); _value = newValue; _done = true; lock.unlock() }
    }
    var done: Bool { lock.lock(); defer { lock.unlock() }; return _done }
}

/// The repository root, found from this file's path (tests run from any directory).
public let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
