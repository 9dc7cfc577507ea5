/// Identifiers of router objects: dense small integers, so tables are arrays indexed by them.

/// A routing instance (VRF); one per virtual network, 0 to 65,535.
public typealias VRFID = UInt16
/// A VM-facing interface (a VM port).
public typealias InterfaceID = UInt32
/// A next hop. 0 is reserved: a FIB leaf holding 0 means "no route".
public typealias NextHopID = UInt32
/// A flow-table entry.
public typealias FlowID = UInt32
