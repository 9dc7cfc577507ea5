import Foundation
import HNALinux
import HNATestSupport
import Testing

@Suite("Event loop")
struct EventLoopTests {
    /// Stands in for the sans-I/O core: it holds work items due at given times and, like the real core,
    /// only ever reports its next deadline and does the work when called at or after it.
    struct FakeCore {
        var due: [(deadline: UInt64, item: Int)] = []
        var done: [(deadline: UInt64, item: Int, now: UInt64)] = []

        var nextDeadline: UInt64? { due.map(\.deadline).min() }

        mutating func add(_ item: Int, at deadline: UInt64) { due.append((deadline, item)) }

        /// Does everything due by `now`, in deadline order (ties in arrival order).
        mutating func poll(now: UInt64) {
            let ready = due.enumerated().filter { $0.element.deadline <= now }
                .sorted { ($0.element.deadline, $0.offset) < ($1.element.deadline, $1.offset) }
            for r in ready { done.append((r.element.deadline, r.element.item, now)) }
            let readyIDs = Set(ready.map(\.element.item))
            due.removeAll { readyIDs.contains($0.item) }
        }
    }

    /// The daemon's pattern: one timer follows the core's next deadline, I/O (here an eventfd poked by
    /// other timers) feeds the core more work, and every item is done no earlier than it was due, in
    /// deadline order.
    @Test func coreDeadlinesAreMetInOrder() throws {
        let loop = try EventLoop()
        defer { loop.close() }
        var core = FakeCore()
        var rng = SplitMix64(seed: 0x7131_0001)
        let start = EventLoop.now()
        let items = 200
        for i in 0 ..< items { core.add(i, at: start + rng.next() % 20_000_000) }

        var coreTimer: EventLoop.TimerID?
        func follow() {
            guard let d = core.nextDeadline else { return }
            if let t = coreTimer, loop.reschedule(t, at: d) { return }
            coreTimer = loop.schedule(at: d) { now in
                coreTimer = nil
                core.poll(now: now)
                follow()
                if core.due.isEmpty { loop.stop() }
            }
        }

        // I/O arriving mid-run adds work for the core, some of it due earlier than what is pending.
        let notifier = try EventNotifier()
        var injected = 0
        try loop.register(fd: notifier.fd) { events, now in
            #expect(events.contains(.readable))
            try? notifier.drain()
            core.add(items + injected, at: now + 1_000_000)
            injected += 1
            follow()
        }
        for k in 1 ... 5 {
            loop.schedule(at: start + UInt64(k) * 3_000_000) { _ in try? notifier.signal() }
        }
        follow()
        #expect(try loop.run(until: start + 10_000_000_000))

        #expect(injected == 5)
        #expect(core.done.count == items + 5)
        #expect(Set(core.done.map(\.item)).count == items + 5)
        for d in core.done { #expect(d.now >= d.deadline, "item \(d.item) ran before it was due") }
        let deadlines = core.done.map(\.deadline)
        #expect(deadlines == deadlines.sorted())
    }

    /// Independent timers fire in deadline order, ties in scheduling order; cancelled ones never fire and
    /// rescheduled ones fire once, at their new time.
    @Test func timersFireInDeadlineOrder() throws {
        let loop = try EventLoop()
        defer { loop.close() }
        var rng = SplitMix64(seed: 0x7131_0002)
        let start = EventLoop.now()
        var fired: [(id: Int, deadline: UInt64, now: UInt64)] = []
        var ids: [EventLoop.TimerID] = []
        var deadlines: [UInt64] = []
        var sequence: [Int] = []  // scheduling order: a reschedule counts as scheduling anew
        for i in 0 ..< 100 {
            sequence.append(i)
            // Coarse steps so that ties occur.
            let d = start + (rng.next() % 20) * 500_000
            deadlines.append(d)
            ids.append(loop.schedule(at: d) { now in fired.append((i, deadlines[i], now)) })
        }
        var cancelled = Set<Int>()
        for i in stride(from: 0, to: 100, by: 7) {
            #expect(loop.cancel(ids[i]))
            cancelled.insert(i)
        }
        #expect(!loop.cancel(ids[0]), "a second cancel finds nothing")
        for i in stride(from: 3, to: 100, by: 10) where !cancelled.contains(i) {
            deadlines[i] = start + (rng.next() % 20) * 500_000
            sequence[i] = 100 + i
            #expect(loop.reschedule(ids[i], at: deadlines[i]))
        }
        let last = start + 20 * 500_000
        loop.schedule(at: last) { _ in loop.stop() }
        #expect(try loop.run(until: start + 10_000_000_000))

        #expect(fired.count == 100 - cancelled.count)
        #expect(Set(fired.map(\.id)) == Set(0 ..< 100).subtracting(cancelled))
        for f in fired { #expect(f.now >= f.deadline) }
        let expected = Set(0 ..< 100).subtracting(cancelled).sorted {
            (deadlines[$0], sequence[$0]) < (deadlines[$1], sequence[$1])
        }
        #expect(fired.map(\.id) == expected)
    }

    /// A timer that keeps rescheduling itself into the past cannot starve I/O: its reruns wait for the
    /// next iteration, and the ready descriptor is served in between.
    @Test func selfReschedulingTimersLeaveRoomForIO() throws {
        let loop = try EventLoop()
        defer { loop.close() }
        let notifier = try EventNotifier()
        try notifier.signal()
        var spins = 0
        var ioSeenAfterSpins: Int?
        func spin(_ now: UInt64) {
            spins += 1
            if spins < 1000 { loop.schedule(at: 0, spin) }
        }
        loop.schedule(at: 0, spin)
        try loop.register(fd: notifier.fd) { _, _ in
            try? notifier.drain()
            ioSeenAfterSpins = spins
            loop.stop()
        }
        #expect(try loop.run(until: EventLoop.now() + 5_000_000_000))
        #expect(ioSeenAfterSpins != nil && ioSeenAfterSpins! < 5)
    }

    /// SIGHUP and SIGTERM arrive as loop events (through the signalfd), not as asynchronous handlers.
    @Test func signalsBecomeLoopEvents() throws {
        let loop = try EventLoop()
        defer { loop.close() }
        var got: [Int32] = []
        try loop.handleSignals([SIGHUP, SIGTERM, SIGINT]) { signal, _ in
            got.append(signal)
            if signal == SIGTERM { loop.stop() }
        }
        #expect(throws: LinuxError.self) { try loop.handleSignals([SIGHUP]) { _, _ in } }
        try EventLoop.raiseInCurrentThread(SIGHUP)
        loop.schedule(at: EventLoop.now() + 1_000_000) { _ in try? EventLoop.raiseInCurrentThread(SIGTERM) }
        #expect(try loop.run(until: EventLoop.now() + 5_000_000_000))
        #expect(got == [SIGHUP, SIGTERM])
    }

    @Test func unregisteredDescriptorsAreNotReported() throws {
        let loop = try EventLoop()
        defer { loop.close() }
        let a = try EventNotifier(), b = try EventNotifier()
        var calls: [String] = []
        var rb: EventLoop.Registration?
        let ra = try loop.register(fd: a.fd) { _, _ in
            calls.append("a")
            try? a.drain()
            if let rb { try? loop.unregister(rb) }
        }
        rb = try loop.register(fd: b.fd) { _, _ in calls.append("b"); try? b.drain() }
        try a.signal()
        try loop.runOnce()
        try b.signal()
        try loop.unregister(ra)
        try a.signal()
        loop.schedule(at: EventLoop.now() + 2_000_000) { _ in loop.stop() }
        #expect(try loop.run(until: EventLoop.now() + 5_000_000_000))
        #expect(calls == ["a"])
    }
}
