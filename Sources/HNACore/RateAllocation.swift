/// The patent's rate allocation ([0087]-[0089], Eq. 3 and 4), generalised to bandwidths B and to
/// priorities. Pure functions: the controller, `hna rates`, the benchmarks and the simulator all
/// compute rates here and nowhere else.
///
/// Priorities share a bandwidth by `priorityBudgets`: strict priority with a guaranteed floor. Every
/// priority with demand first gets min(demand, floor); what is left goes to the priorities in order,
/// highest first, each up to its demand. A destination does not know its sources' rates, only their
/// queue lengths, so it calls this with unbounded demand for every priority that has queued bytes: the
/// highest such priority gets everything above the other priorities' floors. A source calls it with
/// the grants it holds as demand, so Eq. 4 only scales a priority down when its grants do not fit.
/// With one priority both reduce exactly to Eq. 3 and Eq. 4.
public enum RateAllocation {
    /// Splits `bandwidth` over `priorities` priorities with the given demands (bytes/s; `.infinity`
    /// for "as much as possible", 0 for none). The budgets never exceed the demands and sum to at most
    /// `bandwidth`.
    @inlinable
    public static func priorityBudgets(
        bandwidth: Double, demand: SIMD8<Double>, priorities: Int, minimumShare: Double
    ) -> SIMD8<Double> {
        let floor = bandwidth * minimumShare
        var budget = SIMD8<Double>(repeating: 0)
        var left = bandwidth
        for p in 0 ..< priorities where demand[p] > 0 {
            let b = min(demand[p], floor)
            budget[p] = b
            left -= b
        }
        for p in 0 ..< priorities where left > 0 && demand[p] > budget[p] {
            let need = demand[p] - budget[p]
            if need <= left {
                budget[p] = demand[p]  // exactly, so a demand that fits is never scaled by rounding
                left -= need
            } else {
                budget[p] += left
                left = 0
            }
        }
        return budget
    }

    /// Eq. 3 for one source and priority at a destination: the budget shared in proportion to queue
    /// lengths, and 0 when no source has anything queued.
    @inlinable @inline(__always)
    public static func grant(queue: Double, columnTotal: Double, budget: Double) -> Double {
        columnTotal > 0 ? budget * (queue / columnTotal) : 0
    }

    /// Eq. 4 for one destination and priority at a source: scaled down only when the grants exceed the
    /// budget.
    @inlinable @inline(__always)
    public static func normalized(rate: Double, rowTotal: Double, budget: Double) -> Double {
        rowTotal > budget ? rate * (budget / rowTotal) : rate
    }

    /// Sums a flat `[peer * priorities + p]` array per priority: Σ_l q_lj for Eq. 3, Σ_l r_il for Eq. 4.
    static func priorityTotals(_ values: [Double], priorities: Int) -> SIMD8<Double> {
        precondition(values.count % priorities == 0)
        var total = SIMD8<Double>(repeating: 0)
        var k = 0
        while k < values.count {
            for p in 0 ..< priorities { total[p] += values[k + p] }
            k += priorities
        }
        return total
    }

    /// A destination's allocation of its receive bandwidth: `queues[i * priorities + p]` is the queue
    /// length source i reports for priority p; `grants` receives r_ij per (i, p) in the same layout.
    public static func destinationGrants(
        queues: [Double], priorities: Int, bandwidth: Double, minimumShare: Double, into grants: inout [Double]
    ) {
        let total = priorityTotals(queues, priorities: priorities)
        let demand = total.replacing(with: .infinity, where: total .> 0)
        let budget = priorityBudgets(bandwidth: bandwidth, demand: demand, priorities: priorities,
                                     minimumShare: minimumShare)
        if grants.count != queues.count { grants = [Double](repeating: 0, count: queues.count) }
        var i = 0
        while i < queues.count {
            for p in 0 ..< priorities {
                grants[i + p] = grant(queue: queues[i + p], columnTotal: total[p], budget: budget[p])
            }
            i += priorities
        }
    }

    /// A source's normalisation of the grants it holds: `grants[j * priorities + p]` is r_ij for
    /// priority p; `rates` receives r̂_ij in the same layout.
    public static func sourceRates(
        grants: [Double], priorities: Int, bandwidth: Double, minimumShare: Double, into rates: inout [Double]
    ) {
        let total = priorityTotals(grants, priorities: priorities)
        let budget = priorityBudgets(bandwidth: bandwidth, demand: total, priorities: priorities,
                                     minimumShare: minimumShare)
        if rates.count != grants.count { rates = [Double](repeating: 0, count: grants.count) }
        var j = 0
        while j < grants.count {
            for p in 0 ..< priorities {
                rates[j + p] = normalized(rate: grants[j + p], rowTotal: total[p], budget: budget[p])
            }
            j += priorities
        }
    }
}

/// R and R̂ for a whole fabric with one priority: the patent's matrix notation ([0103]), rows are sources
/// and columns destinations. What `hna rates` prints.
public struct RateMatrices: Hashable, Sendable {
    /// r_ij: what destination j grants source i (Eq. 3 with B_j).
    public var rates: [[Double]]
    /// r̂_ij: what source i actually sends to destination j (Eq. 4 with B_i).
    public var normalized: [[Double]]

    /// Why an input matrix was refused.
    public struct InputError: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Computes R and R̂ from queue lengths Q (sources x destinations). The bandwidths default to 1.
    public init(queues: [[Double]], txBandwidth: [Double]? = nil, rxBandwidth: [Double]? = nil) throws(InputError) {
        let sources = queues.count
        guard sources > 0, let destinations = queues.first?.count, destinations > 0 else {
            throw InputError("queues must be a non-empty matrix")
        }
        for (i, row) in queues.enumerated() {
            guard row.count == destinations else {
                throw InputError("queues row \(i) has \(row.count) values, row 0 has \(destinations)")
            }
            for v in row where !(v.isFinite && v >= 0) {
                throw InputError("queues row \(i) has \(v); queue lengths are finite and non-negative")
            }
        }
        let tx = txBandwidth ?? [Double](repeating: 1, count: sources)
        let rx = rxBandwidth ?? [Double](repeating: 1, count: destinations)
        guard tx.count == sources else {
            throw InputError("txBandwidth has \(tx.count) values for \(sources) sources")
        }
        guard rx.count == destinations else {
            throw InputError("rxBandwidth has \(rx.count) values for \(destinations) destinations")
        }
        for (name, list) in [("txBandwidth", tx), ("rxBandwidth", rx)] {
            for v in list where !(v.isFinite && v >= 0) {
                throw InputError("\(name) has \(v); bandwidths are finite and non-negative")
            }
        }
        var r = [[Double]](repeating: [Double](repeating: 0, count: destinations), count: sources)
        var column = [Double](repeating: 0, count: sources)
        var grants: [Double] = []
        for j in 0 ..< destinations {
            for i in 0 ..< sources { column[i] = queues[i][j] }
            RateAllocation.destinationGrants(queues: column, priorities: 1, bandwidth: rx[j], minimumShare: 0,
                                             into: &grants)
            for i in 0 ..< sources { r[i][j] = grants[i] }
        }
        var rHat = r
        var out: [Double] = []
        for i in 0 ..< sources {
            RateAllocation.sourceRates(grants: r[i], priorities: 1, bandwidth: tx[i], minimumShare: 0, into: &out)
            rHat[i] = out
        }
        rates = r
        normalized = rHat
    }
}
