import CHNALinux
import Glibc
import HeapModule

/// The daemon's single-threaded driver: epoll over the TAP and underlay descriptors, a timerfd armed at
/// the earliest pending deadline, and a signalfd for SIGHUP/SIGTERM/SIGINT.
///
/// The sans-I/O core reports "call me again at T"; the loop sleeps in epoll_wait until a descriptor is
/// ready or T passes (the timerfd is armed with an absolute CLOCK_MONOTONIC time, so no millisecond
/// rounding and no drift from recomputing relative timeouts). Each wakeup reads the clock once and hands
/// that `now` to every handler, so one iteration sees one consistent time.
///
/// Handlers are closures called per readiness event or per timer — per burst, never per packet. The loop
/// is not thread-safe; `EventNotifier` is the one way in from another thread.
public final class EventLoop {
    public struct Events: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Events(rawValue: UInt32(HNA_EPOLLIN))
        public static let writable = Events(rawValue: UInt32(HNA_EPOLLOUT))
        /// Always reported by epoll, whether asked for or not.
        public static let error = Events(rawValue: UInt32(HNA_EPOLLERR))
        public static let hangup = Events(rawValue: UInt32(HNA_EPOLLHUP))
    }

    /// A descriptor registration (not the fd: fds are reused after close, registrations are not).
    public struct Registration: Hashable, Sendable {
        fileprivate let id: UInt64
    }

    public struct TimerID: Hashable, Sendable {
        fileprivate let id: UInt64
    }

    public typealias IOHandler = (Events, _ now: UInt64) -> Void
    public typealias TimerHandler = (_ now: UInt64) -> Void
    public typealias SignalHandler = (_ signal: Int32, _ now: UInt64) -> Void

    private struct Watch {
        var fd: Int32
        var handler: IOHandler
    }

    private struct Timer {
        var deadline: UInt64
        var sequence: UInt64
        var handler: TimerHandler
    }

    /// Heap entry; stale entries (cancelled or rescheduled timers) are skipped when they surface.
    private struct Pending: Comparable {
        var deadline: UInt64
        var sequence: UInt64
        var id: UInt64
        static func < (a: Pending, b: Pending) -> Bool {
            (a.deadline, a.sequence) < (b.deadline, b.sequence)
        }
    }

    private var epollFD: Int32
    private var timerFD: Int32
    private var signalFD: Int32 = -1
    private var savedSignalMask = [UInt8](repeating: 0, count: 128)
    private var signalHandler: SignalHandler?

    private var watches: [UInt64: Watch] = [:]
    private var timers: [UInt64: Timer] = [:]
    private var pending = Heap<Pending>()
    private var nextID: UInt64 = 2  // 0 and 1 tag the timerfd and the signalfd in epoll data
    private var sequence: UInt64 = 0
    /// The deadline the timerfd is armed for (0 = disarmed).
    private var armedDeadline: UInt64 = 0
    private var stopping = false
    private var events = [hna_epoll_event](repeating: hna_epoll_event(), count: 64)

    private static let timerTag: UInt64 = 0
    private static let signalTag: UInt64 = 1

    public init() throws(LinuxError) {
        epollFD = try LinuxError.check(hna_epoll_create(), "event loop", "epoll_create1")
        do {
            timerFD = try LinuxError.check(hna_timerfd_create(), "event loop", "timerfd_create")
        } catch {
            closeDescriptor(epollFD)
            throw error
        }
        do {
            _ = try LinuxError.check(hna_epoll_ctl(epollFD, Int32(HNA_EPOLL_ADD), timerFD, UInt32(HNA_EPOLLIN),
                                                   EventLoop.timerTag), "event loop", "epoll_ctl(timerfd)")
        } catch {
            closeDescriptor(timerFD)
            closeDescriptor(epollFD)
            throw error
        }
    }

    deinit { close() }

    /// Closes the loop's descriptors and gives the thread its signal mask back.
    public func close() {
        if signalFD >= 0 {
            closeDescriptor(signalFD)
            signalFD = -1
            _ = savedSignalMask.withUnsafeBytes { hna_signal_restore_mask($0.baseAddress) }
        }
        closeDescriptor(timerFD)
        closeDescriptor(epollFD)
        timerFD = -1
        epollFD = -1
        watches.removeAll()
        timers.removeAll()
        pending = Heap()
    }

    /// CLOCK_MONOTONIC in nanoseconds, the time base of every deadline.
    @inlinable
    public static func now() -> UInt64 { hna_monotonic_ns() }

    // MARK: descriptors

    /// Calls `handler` whenever `fd` is ready for `events` (level-triggered: a handler that leaves data
    /// unread is called again next iteration).
    @discardableResult
    public func register(fd: Int32, events: Events = .readable, _ handler: @escaping IOHandler) throws(LinuxError) -> Registration {
        let id = nextID
        nextID += 1
        _ = try LinuxError.check(hna_epoll_ctl(epollFD, Int32(HNA_EPOLL_ADD), fd, events.rawValue, id),
                                 "event loop", "epoll_ctl(add fd \(fd))")
        watches[id] = Watch(fd: fd, handler: handler)
        return Registration(id: id)
    }

    /// Changes the events a registration waits for (e.g. add `.writable` while a send is backed up).
    public func modify(_ registration: Registration, events: Events) throws(LinuxError) {
        guard let w = watches[registration.id] else {
            throw .invalidArgument(subject: "event loop", reason: "modify of an unknown registration")
        }
        _ = try LinuxError.check(hna_epoll_ctl(epollFD, Int32(HNA_EPOLL_MOD), w.fd, events.rawValue, registration.id),
                                 "event loop", "epoll_ctl(modify fd \(w.fd))")
    }

    /// Stops watching; call before closing the descriptor.
    public func unregister(_ registration: Registration) throws(LinuxError) {
        guard let w = watches.removeValue(forKey: registration.id) else { return }
        _ = try LinuxError.check(hna_epoll_ctl(epollFD, Int32(HNA_EPOLL_DEL), w.fd, 0, 0),
                                 "event loop", "epoll_ctl(delete fd \(w.fd))")
    }

    // MARK: timers

    /// Calls `handler` once at or after `deadline` (CLOCK_MONOTONIC ns). Timers fire in deadline order;
    /// equal deadlines in the order they were scheduled.
    @discardableResult
    public func schedule(at deadline: UInt64, _ handler: @escaping TimerHandler) -> TimerID {
        let id = nextID
        nextID += 1
        sequence += 1
        timers[id] = Timer(deadline: deadline, sequence: sequence, handler: handler)
        pending.insert(Pending(deadline: deadline, sequence: sequence, id: id))
        return TimerID(id: id)
    }

    /// Moves a pending timer to a new deadline (the core's "next deadline" changed). Returns false when
    /// the timer already fired or was cancelled.
    @discardableResult
    public func reschedule(_ timer: TimerID, at deadline: UInt64) -> Bool {
        guard var t = timers[timer.id] else { return false }
        sequence += 1
        t.deadline = deadline
        t.sequence = sequence
        timers[timer.id] = t
        pending.insert(Pending(deadline: deadline, sequence: sequence, id: timer.id))
        return true
    }

    /// Cancels a pending timer. Returns false when it already fired or was cancelled.
    @discardableResult
    public func cancel(_ timer: TimerID) -> Bool {
        timers.removeValue(forKey: timer.id) != nil
    }

    /// The earliest live deadline, dropping stale heap entries on the way.
    private func earliestDeadline() -> UInt64? {
        while let top = pending.min {
            if let t = timers[top.id], t.sequence == top.sequence { return top.deadline }
            _ = pending.removeMin()
        }
        return nil
    }

    // MARK: signals

    /// Takes delivery of `signals` through a signalfd and calls `handler` from the loop. Blocks them in
    /// the calling thread (restored by `close`): the daemon calls this on its main thread before it
    /// starts any other, so no thread is left for the kernel to deliver them to the default way.
    public func handleSignals(_ signals: [Int32], _ handler: @escaping SignalHandler) throws(LinuxError) {
        guard signalFD < 0 else {
            throw .invalidArgument(subject: "event loop", reason: "signals are already being handled")
        }
        let fd = signals.withUnsafeBufferPointer { s in
            savedSignalMask.withUnsafeMutableBytes { hna_signalfd_open(s.baseAddress, UInt32(s.count), $0.baseAddress) }
        }
        signalFD = try LinuxError.check(fd, "event loop", "signalfd")
        do {
            _ = try LinuxError.check(hna_epoll_ctl(epollFD, Int32(HNA_EPOLL_ADD), signalFD, UInt32(HNA_EPOLLIN),
                                                   EventLoop.signalTag), "event loop", "epoll_ctl(signalfd)")
        } catch {
            closeDescriptor(signalFD)
            signalFD = -1
            _ = savedSignalMask.withUnsafeBytes { hna_signal_restore_mask($0.baseAddress) }
            throw error
        }
        signalHandler = handler
    }

    /// Sends `signal` to the calling thread only: a test's way to exercise `handleSignals` without
    /// signalling the whole process.
    public static func raiseInCurrentThread(_ signal: Int32) throws(LinuxError) {
        _ = try LinuxError.check(hna_raise_in_thread(signal), "signal \(signal)", "tgkill")
    }

    // MARK: running

    /// Makes `run` return after the current iteration.
    public func stop() { stopping = true }

    /// Runs iterations until `stop()` is called.
    public func run() throws(LinuxError) {
        stopping = false
        while !stopping {
            try runOnce()
        }
    }

    /// Runs until `stop()` or until `limit` (CLOCK_MONOTONIC ns) passes, whichever comes first; returns
    /// false on the time limit. Tests use it so a broken handler fails instead of hanging.
    @discardableResult
    public func run(until limit: UInt64) throws(LinuxError) -> Bool {
        stopping = false
        while !stopping {
            if EventLoop.now() >= limit { return false }
            try runOnce(waitLimit: limit)
        }
        return true
    }

    /// One iteration: wait for I/O or the earliest deadline (or `waitLimit`), dispatch ready descriptors,
    /// then fire due timers in deadline order. Timers scheduled while firing, even for the past, wait for
    /// the next iteration so a handler that keeps rescheduling itself cannot starve I/O.
    public func runOnce(waitLimit: UInt64? = nil) throws(LinuxError) {
        var deadline = earliestDeadline()
        if let waitLimit, waitLimit < deadline ?? .max { deadline = waitLimit }
        var timeout: Int32 = -1
        if let deadline {
            if deadline <= EventLoop.now() {
                timeout = 0
            } else if deadline != armedDeadline {
                _ = try LinuxError.check(hna_timerfd_arm(timerFD, deadline), "event loop", "timerfd_settime")
                armedDeadline = deadline
            }
        } else if armedDeadline != 0 {
            _ = try LinuxError.check(hna_timerfd_arm(timerFD, 0), "event loop", "timerfd_settime")
            armedDeadline = 0
        }
        let n = try LinuxError.check(
            events.withUnsafeMutableBufferPointer { hna_epoll_wait(epollFD, $0.baseAddress, UInt32($0.count), timeout) },
            "event loop", "epoll_wait")
        let now = EventLoop.now()
        for k in 0 ..< Int(n) {
            let e = events[k]
            switch e.data {
            case EventLoop.timerTag:
                _ = hna_timerfd_drain(timerFD)
                armedDeadline = 0  // expired: a later iteration re-arms for whatever is next
            case EventLoop.signalTag:
                try dispatchSignals(now)
            default:
                // A handler earlier in this batch may have unregistered this one.
                if let w = watches[e.data] { w.handler(Events(rawValue: e.events), now) }
            }
        }
        fireTimers(now)
    }

    private func dispatchSignals(_ now: UInt64) throws(LinuxError) {
        var buffer = [Int32](repeating: 0, count: 8)
        while true {
            let n = try LinuxError.check(
                buffer.withUnsafeMutableBufferPointer { hna_signalfd_read(signalFD, $0.baseAddress, UInt32($0.count)) },
                "event loop", "read(signalfd)")
            for s in buffer.prefix(Int(n)) { signalHandler?(s, now) }
            if n < buffer.count { return }
        }
    }

    private func fireTimers(_ now: UInt64) {
        let cutoff = sequence  // timers scheduled from here on belong to the next iteration
        var deferred: [Pending] = []
        while let top = pending.min, top.deadline <= now {
            _ = pending.removeMin()
            guard let t = timers[top.id], t.sequence == top.sequence else { continue }
            if top.sequence > cutoff {
                deferred.append(top)
                continue
            }
            timers.removeValue(forKey: top.id)
            t.handler(now)
        }
        for d in deferred { pending.insert(d) }
    }
}

/// An eventfd: the thread-safe way to wake an `EventLoop` (register `fd` for `.readable`, call
/// `drain()` in the handler), e.g. when the control socket thread has queued a config reload.
public final class EventNotifier: @unchecked Sendable {
    public let fd: Int32

    public init() throws(LinuxError) {
        fd = try LinuxError.check(hna_eventfd_create(), "event notifier", "eventfd")
    }

    deinit { closeDescriptor(fd) }

    /// Makes `fd` readable; safe from any thread.
    public func signal() throws(LinuxError) {
        _ = try LinuxError.check(hna_eventfd_signal(fd), "event notifier", "write")
    }

    /// Consumes pending signals so `fd` stops being readable.
    public func drain() throws(LinuxError) {
        _ = try LinuxError.check(hna_eventfd_drain(fd), "event notifier", "read")
    }
}
