/// Checksum steps shared by the headers whose checksum field sits inside the bytes it covers (UDP, TCP,
/// GRE): verification adds the stored field along with everything else and expects the one's-complement
/// "all ones"; filling zeroes the field, sums, and stores the complement.
extension InternetChecksum {
    /// True when `bytes`, added to the running sum (a pseudo-header or nothing), complete a valid
    /// checksum: the stored field is included, so a correct packet sums to 0xFFFF.
    @inlinable
    public func verifies(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var c = self
        c.add(bytes)
        return c.folded == 0xFFFF
    }

    /// Computes the checksum over `bytes` (field at `fieldOffset` counted as zero) on top of the running
    /// sum, and stores it big-endian at `fieldOffset`. Returns the value stored, so UDP can apply its
    /// zero-means-none rule.
    @inlinable
    @discardableResult
    public func fill(_ bytes: UnsafeMutableRawBufferPointer, fieldOffset: Int) -> UInt16 {
        bytes.setU16(0, at: fieldOffset)
        var c = self
        c.add(UnsafeRawBufferPointer(bytes))
        let value = c.checksum
        bytes.setU16(value, at: fieldOffset)
        return value
    }
}
