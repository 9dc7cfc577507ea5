extension Dissector {
    func decodeProtocols(_ step: Step, _ bytes: UnsafeRawBufferPointer, into out: inout DecodedPacket) throws(WireError) -> (Step, UnsafeRawBufferPointer)? {
        (.payload, bytes)
    }
}
