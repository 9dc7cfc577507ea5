import ArgumentParser
import Foundation
import HNAWire

/// `hna decode FILE.pcap [--json]`: every packet of a capture, layer by layer.
struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode a pcap or pcapng capture layer by layer (tunnels and the HNA header included).",
        discussion: """
        Text by default; with --json one object per packet per line:
        {"index": N, "layers": [{"type": ..., ...}, ...], "error": null | "message"}.
        UDP 4789 is VXLAN, 6635 MPLS-over-UDP, 6650 the HNA header; --vxlan-port, --mpls-port and
        --hna-port add ports.
        """
    )

    @Argument(help: "A pcap or pcapng file ('-' for standard input).")
    var file: String

    @Flag(help: "One JSON object per packet per line.")
    var json = false

    @Option(help: "Another UDP port to decode as VXLAN.") var vxlanPort: [UInt16] = []
    @Option(help: "Another UDP port to decode as MPLS-over-UDP.") var mplsPort: [UInt16] = []
    @Option(help: "Another UDP port to decode as the HNA header.") var hnaPort: [UInt16] = []

    func run() throws {
        let data: Data
        do {
            data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile()
                : try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw ValidationError("cannot read \(file): \(error.localizedDescription)")
        }
        let (packets, captureError) = CaptureReader.read([UInt8](data))
        if packets.isEmpty, let captureError {
            FileHandle.standardError.write(Data("hna decode: \(file): \(captureError)\n".utf8))
            throw ExitCode(2)
        }
        var ports = DissectorPorts()
        ports.vxlan.formUnion(vxlanPort)
        ports.mplsOverUDP.formUnion(mplsPort)
        ports.hna.formUnion(hnaPort)
        let dissector = Dissector(ports: ports)
        var out = ""
        for (i, p) in packets.enumerated() {
            let decoded = dissector.decode(p)
            if json {
                decoded.json(index: i).write(to: &out)
                out += "\n"
            } else {
                out += decoded.text(index: i, length: p.data.count) + "\n"
            }
            if out.utf8.count > 1 << 16 {
                FileHandle.standardOutput.write(Data(out.utf8))
                out = ""
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
        if let captureError {
            FileHandle.standardError.write(Data("hna decode: \(file): \(captureError) (after \(packets.count) packets)\n".utf8))
            throw ExitCode(2)
        }
    }
}
