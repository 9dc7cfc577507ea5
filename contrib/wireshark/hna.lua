-- Wireshark dissector for the HNA fabric header.
--
-- The format is defined in docs/wire-format.md ("The HNA fabric header") and implemented by
-- Sources/HNAWire/Headers/HNAHeader.swift; this file follows them field by field. Registered on UDP
-- port 6650 and on GRE protocol 0x88B5, the defaults in Sources/HNAWire/Support/ProtocolNumbers.swift
-- (a fabric that moved them can use "Decode As..." with the "hna" protocol).
--
-- Load: wireshark -X lua_script:contrib/wireshark/hna.lua, or copy it into the personal Lua plugins
-- folder. See contrib/wireshark/README.md.

local hna = Proto("hna", "HNA fabric header")

local UDP_PORT = 6650
local GRE_PROTO = 0x88B5
local SUPPORTED_VERSION = 1
local FIXED_LENGTH = 6        -- control (2) + timestamp (4)
local NACK_PREAMBLE = 2       -- entry count + reserved byte
local NACK_ENTRY = 4          -- priority(3)|count(13), first sequence

local next_names = {
    [0] = "None (heartbeat/ack)",
    [1] = "VXLAN",
    [2] = "MPLS",
    [3] = "Ethernet",
    [4] = "IPv4",
    [5] = "IPv6",
}

-- Next value -> dissector that reads what follows the header: its registered name, and where else to
-- find it (Wireshark 4.0 does not register VXLAN by name, only on its UDP port).
local next_dissectors = {
    [1] = { name = "vxlan", table = "udp.port", key = 4789 },
    [2] = { name = "mpls", table = "ethertype", key = 0x8847 },
    [3] = { name = "eth_withoutfcs" },
    [4] = { name = "ip", table = "ethertype", key = 0x0800 },
    [5] = { name = "ipv6", table = "ethertype", key = 0x86DD },
}

local f = {
    control = ProtoField.uint16("hna.control", "Control", base.HEX),
    version = ProtoField.uint16("hna.version", "Version", base.DEC, nil, 0xC000),
    flag_data = ProtoField.bool("hna.flags.data", "Data (sequenced payload)", 16, nil, 0x2000),
    flag_ack = ProtoField.bool("hna.flags.ack", "Acks present", 16, nil, 0x1000),
    flag_nack = ProtoField.bool("hna.flags.nack", "NACKs present", 16, nil, 0x0800),
    flag_retx = ProtoField.bool("hna.flags.retransmission", "Retransmission", 16, nil, 0x0400),
    next = ProtoField.uint16("hna.next", "Next protocol", base.DEC, next_names, 0x0380),
    priority = ProtoField.uint16("hna.priority", "Priority", base.DEC, nil, 0x0070),
    priorities_m1 = ProtoField.uint16("hna.priorities_minus_one", "Priorities - 1", base.DEC, nil, 0x000E),
    priorities = ProtoField.uint8("hna.priorities", "Priorities", base.DEC),
    reserved = ProtoField.uint16("hna.reserved", "Reserved", base.DEC, nil, 0x0001),
    timestamp = ProtoField.uint32("hna.timestamp", "Timestamp (us)", base.DEC),
    queue_length = ProtoField.uint16("hna.queue_length", "Queue length", base.DEC),
    rate = ProtoField.uint16("hna.rate", "Granted rate", base.DEC),
    sequence = ProtoField.uint16("hna.sequence", "Sequence number", base.DEC),
    ack = ProtoField.uint16("hna.ack", "Ack (next expected)", base.DEC),
    nack_entries = ProtoField.uint8("hna.nack.entries", "NACK entries", base.DEC),
    nack_reserved = ProtoField.uint8("hna.nack.reserved", "Reserved", base.DEC),
    nack_priority = ProtoField.uint16("hna.nack.priority", "Priority", base.DEC, nil, 0xE000),
    nack_count = ProtoField.uint16("hna.nack.count", "Count", base.DEC, nil, 0x1FFF),
    nack_first = ProtoField.uint16("hna.nack.first", "First missing sequence", base.DEC),
    payload = ProtoField.bytes("hna.payload", "Payload"),
}
hna.fields = {
    f.control, f.version, f.flag_data, f.flag_ack, f.flag_nack, f.flag_retx, f.next, f.priority,
    f.priorities_m1, f.priorities, f.reserved, f.timestamp, f.queue_length, f.rate, f.sequence, f.ack,
    f.nack_entries, f.nack_reserved, f.nack_priority, f.nack_count, f.nack_first, f.payload,
}

local e_truncated = ProtoExpert.new("hna.truncated", "HNA header truncated", expert.group.MALFORMED, expert.severity.ERROR)
local e_version = ProtoExpert.new("hna.version.unsupported", "Unsupported HNA version", expert.group.PROTOCOL, expert.severity.WARN)
local e_reserved = ProtoExpert.new("hna.reserved.set", "Reserved bit set", expert.group.MALFORMED, expert.severity.ERROR)
local e_priority = ProtoExpert.new("hna.priority.range", "Priority not below the number of priorities", expert.group.MALFORMED, expert.severity.ERROR)
local e_no_nacks = ProtoExpert.new("hna.nack.empty", "NACK flag with no entries", expert.group.MALFORMED, expert.severity.ERROR)
local e_next = ProtoExpert.new("hna.next.reserved", "Reserved next protocol", expert.group.UNDECODED, expert.severity.NOTE)
hna.experts = { e_truncated, e_version, e_reserved, e_priority, e_no_nacks, e_next }

-- Dissectors are looked up once, when first needed; false marks one that could not be found.
local handoff = {}
local function find_dissector(spec)
    local ok, d = pcall(Dissector.get, spec.name)
    if ok and d then return d end
    if spec.table then
        local ok_table, t = pcall(DissectorTable.get, spec.table)
        if ok_table and t then
            local ok_entry, e = pcall(t.get_dissector, t, spec.key)
            if ok_entry and e then return e end
        end
    end
    return false
end

local function next_dissector(value)
    local spec = next_dissectors[value]
    if spec == nil then return nil end
    if handoff[value] == nil then handoff[value] = find_dissector(spec) end
    return handoff[value] or nil
end

local function truncated(pinfo, tree, needed, available)
    pinfo.cols.info = "HNA (truncated)"
    tree:add_proto_expert_info(e_truncated,
        string.format("HNA header truncated (needs %d bytes, %d available)", needed, available))
end

function hna.dissector(buf, pinfo, root)
    local available = buf:len()
    if available < 2 then return 0 end
    pinfo.cols.protocol = "HNA"
    local tree = root:add(hna, buf())

    if available < FIXED_LENGTH then
        truncated(pinfo, tree, FIXED_LENGTH, available)
        return available
    end

    local control = buf(0, 2):uint()
    local version = bit.rshift(control, 14)
    local has_data = bit.band(control, 0x2000) ~= 0
    local has_acks = bit.band(control, 0x1000) ~= 0
    local has_nacks = bit.band(control, 0x0800) ~= 0
    local is_retx = bit.band(control, 0x0400) ~= 0
    local next_value = bit.band(bit.rshift(control, 7), 0x7)
    local priority = bit.band(bit.rshift(control, 4), 0x7)
    local p = bit.band(bit.rshift(control, 1), 0x7) + 1

    local ctl = tree:add(f.control, buf(0, 2))
    ctl:add(f.version, buf(0, 2))
    if version ~= SUPPORTED_VERSION then
        -- Another version may lay out everything after the version bits differently.
        ctl:add_proto_expert_info(e_version, string.format("Unsupported HNA version %d", version))
        pinfo.cols.info = string.format("HNA version %d (unsupported)", version)
        return available
    end
    ctl:add(f.flag_data, buf(0, 2))
    ctl:add(f.flag_ack, buf(0, 2))
    ctl:add(f.flag_nack, buf(0, 2))
    ctl:add(f.flag_retx, buf(0, 2))
    local next_item = ctl:add(f.next, buf(0, 2))
    local prio_item = ctl:add(f.priority, buf(0, 2))
    ctl:add(f.priorities_m1, buf(0, 2))
    tree:add(f.priorities, buf(1, 1), p):set_generated()
    local res_item = ctl:add(f.reserved, buf(0, 2))
    if bit.band(control, 0x0001) ~= 0 then res_item:add_proto_expert_info(e_reserved) end
    if priority >= p then
        prio_item:add_proto_expert_info(e_priority,
            string.format("Priority %d with %d priorities", priority, p))
    end
    if next_dissectors[next_value] == nil and next_value ~= 0 then
        next_item:add_proto_expert_info(e_next)
    end

    tree:add(f.timestamp, buf(2, 4))

    -- The variable part: queue lengths, rates, [sequence], [acks], [nack preamble, entries].
    local length = FIXED_LENGTH + 4 * p
    if has_data then length = length + 2 end
    if has_acks then length = length + 2 * p end
    if has_nacks then
        if available < length + NACK_PREAMBLE then
            truncated(pinfo, tree, length + NACK_PREAMBLE, available)
            return available
        end
        local k = buf(length, 1):uint()
        length = length + NACK_PREAMBLE + NACK_ENTRY * k
    end
    if available < length then
        truncated(pinfo, tree, length, available)
        return available
    end
    tree:set_len(length)

    local o = FIXED_LENGTH
    local queues = tree:add(buf(o, 2 * p), "Queue lengths")
    for i = 0, p - 1 do
        queues:add(f.queue_length, buf(o, 2)):prepend_text(string.format("[%d] ", i))
        o = o + 2
    end
    local rates = tree:add(buf(o, 2 * p), "Granted rates")
    for i = 0, p - 1 do
        rates:add(f.rate, buf(o, 2)):prepend_text(string.format("[%d] ", i))
        o = o + 2
    end
    local info = {}
    if next_value == 0 then
        table.insert(info, has_data and "no payload" or "heartbeat")
    else
        table.insert(info, "next=" .. (next_dissectors[next_value] and next_dissectors[next_value].name
            or tostring(next_value)))
    end
    if has_data then
        tree:add(f.sequence, buf(o, 2))
        table.insert(info, string.format("prio=%d seq=%d", priority, buf(o, 2):uint()))
        o = o + 2
    end
    if has_acks then
        local acks = tree:add(buf(o, 2 * p), "Acks")
        for i = 0, p - 1 do
            acks:add(f.ack, buf(o, 2)):prepend_text(string.format("[%d] ", i))
            o = o + 2
        end
        table.insert(info, "acks")
    end
    if has_nacks then
        local k = buf(o, 1):uint()
        local nacks = tree:add(buf(o, NACK_PREAMBLE + NACK_ENTRY * k), "NACKs")
        local count_item = nacks:add(f.nack_entries, buf(o, 1))
        if k == 0 then count_item:add_proto_expert_info(e_no_nacks) end
        nacks:add(f.nack_reserved, buf(o + 1, 1))
        o = o + NACK_PREAMBLE
        for i = 0, k - 1 do
            local entry = nacks:add(buf(o, NACK_ENTRY), string.format("NACK %d", i))
            entry:add(f.nack_priority, buf(o, 2))
            entry:add(f.nack_count, buf(o, 2))
            entry:add(f.nack_first, buf(o + 2, 2))
            o = o + NACK_ENTRY
        end
        table.insert(info, string.format("%d nack(s)", k))
    end
    if is_retx then table.insert(info, "retransmission") end
    pinfo.cols.info = "HNA " .. table.concat(info, ", ")

    if length < available then
        local rest = buf(length):tvb()
        local d = next_dissector(next_value)
        if d then
            d:call(rest, pinfo, root)
        else
            tree:add(f.payload, buf(length))
        end
    end
    return available
end

DissectorTable.get("udp.port"):add(UDP_PORT, hna)
DissectorTable.get("gre.proto"):add(GRE_PROTO, hna)
