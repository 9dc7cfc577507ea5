import HNAWire

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer entry point. The parser under test is chosen by `HNA_FUZZ_TARGET` (one libFuzzer target per
/// parser; `scripts/fuzz.sh` runs them all). Every target checks its parser's oracle (round-trip and
/// view/value agreement, see `ParserChecks`) and traps on a violation so libFuzzer saves the input.
let selected: ParserChecks.Check? = {
    guard let name = getenv("HNA_FUZZ_TARGET").map({ String(cString: $0) }) else { return nil }
    return ParserChecks.all.first(where: { $0.name == name })
}()

/// Writes to standard error (fd 2) without touching C's global `stderr` stream.
func warn(_ message: String, _: Any? = nil) {
    var m = message
    m.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    guard let check = selected else {
        warn("set HNA_FUZZ_TARGET to one of: \(ParserChecks.all.map(\.name).joined(separator: " "))\n")
        exit(2)
    }
    if let violation = check.run(bytes) {
        warn("oracle violated in \(check.name): \(violation)\n")
        abort()
    }
    return 0
}

#if !HNA_LIBFUZZER
/// Without libFuzzer (an ordinary `swift build`), the same targets replay inputs from files:
/// `HNA_FUZZ_TARGET=ipv4 hna-fuzz crash-1234` reproduces a crash libFuzzer saved.
@main
enum Replay {
    static func main() {
        for path in CommandLine.arguments.dropFirst() {
            guard let f = fopen(path, "rb") else {
                warn("cannot open \(path)\n")
                exit(2)
            }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = fread(&chunk, 1, chunk.count, f)
                if n <= 0 { break }
                bytes += chunk[0 ..< n]
            }
            fclose(f)
            _ = bytes.withUnsafeBufferPointer { fuzzOneInput($0.baseAddress, $0.count) }
            print("\(path): ok")
        }
    }
}
#endif

#if HNA_LIBFUZZER
/// SwiftPM links an executable's entry point under the name `<product>_main`; with libFuzzer that entry
/// point hands control to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@_cdecl("hna_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOneInput(data, size) }
}
#endif
