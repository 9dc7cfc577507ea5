import HNATestSupport
import Testing
@testable import HNACore

/// FIG. 12A/12B and the allocation's invariants, through the same functions the controller calls.
@Suite struct RateAllocationTests {
    static func close(_ a: [[Double]], _ b: [[Double]], tolerance: Double = 1e-12) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { x, y in
            x.count == y.count && zip(x, y).allSatisfy { abs($0 - $1) <= tolerance }
        }
    }

    @Test func fig12aFirstExampleEqualQueues() throws {
        let m = try RateMatrices(queues: [[1, 1, 0, 0], [0, 1, 1, 1]])
        #expect(Self.close(m.rates, [[1, 0.5, 0, 0], [0, 0.5, 1, 1]]))
        let expected: [[Double]] = [[1 / 1.5, 0.5 / 1.5, 0, 0], [0, 0.5 / 2.5, 1 / 2.5, 1 / 2.5]]
        #expect(Self.close(m.normalized, expected))
    }

    @Test func fig12aSecondExample() throws {
        // [0109]: Q with 0.6/0.4 shares of destination 402D.
        let m = try RateMatrices(queues: [[1, 0.6, 0, 0], [0, 0.4, 1, 1]])
        #expect(Self.close(m.rates, [[1, 0.6, 0, 0], [0, 0.4, 1, 1]]))
        let expected: [[Double]] = [[0.625, 0.375, 0, 0], [0, 0.4 / 2.4, 1 / 2.4, 1 / 2.4]]
        #expect(Self.close(m.normalized, expected))
        #expect(abs(m.normalized[1][2] - 0.41666) < 1e-4)
    }

    @Test func fig12bNeedsNoNormalisation() throws {
        // Sources A-D towards destinations E, F; queue lengths in the proportions of [0112].
        let m = try RateMatrices(queues: [[3, 1], [7, 0], [0, 2], [0, 1]])
        let expected: [[Double]] = [[0.3, 0.25], [0.7, 0], [0, 0.5], [0, 0.25]]
        #expect(Self.close(m.rates, expected))
        #expect(m.normalized == m.rates)
    }

    @Test func bandwidthsScaleBothEquations() throws {
        // Destination 0 receives 10, source 0 transmits 4.
        let m = try RateMatrices(queues: [[1, 1], [3, 0]], txBandwidth: [4, 100], rxBandwidth: [10, 8])
        #expect(Self.close(m.rates, [[2.5, 8], [7.5, 0]]))
        let scale: Double = 4 / 10.5
        let expected: [[Double]] = [[2.5 * scale, 8 * scale], [7.5, 0]]
        #expect(Self.close(m.normalized, expected))
    }

    @Test func emptyColumnGrantsNothing() throws {
        let m = try RateMatrices(queues: [[0, 2], [0, 0]])
        #expect(m.rates == [[0, 1], [0, 0]])
    }

    @Test func refusesBadInput() {
        #expect(throws: RateMatrices.InputError.self) { try RateMatrices(queues: [[1, 2], [3]]) }
        #expect(throws: RateMatrices.InputError.self) { try RateMatrices(queues: [[1, -2]]) }
        #expect(throws: RateMatrices.InputError.self) { try RateMatrices(queues: [[1, 2]], txBandwidth: [1, 1]) }
        #expect(throws: RateMatrices.InputError.self) { try RateMatrices(queues: [[1, 2]], rxBandwidth: [1]) }
        #expect(throws: RateMatrices.InputError.self) { try RateMatrices(queues: []) }
    }

    @Test func strictPriorityWithFloors() {
        let b = RateAllocation.priorityBudgets(bandwidth: 100, demand: SIMD8(.infinity, 0, .infinity, .infinity, 0, 0, 0, 0),
                                               priorities: 4, minimumShare: 0.1)
        #expect(b[0] == 80 && b[1] == 0 && b[2] == 10 && b[3] == 10)
        // Finite demands that fit are met exactly; the rest goes to the highest priority first.
        let s = RateAllocation.priorityBudgets(bandwidth: 100, demand: SIMD8(30, 90, 5, 0, 0, 0, 0, 0),
                                               priorities: 3, minimumShare: 0.1)
        #expect(s[0] == 30 && s[1] == 65 && s[2] == 5)
    }

    /// Σ_i r_ij ≤ B_j, Σ_j r̂_ij ≤ B_i, r̂ ≤ r, over random matrices, priorities and bandwidths.
    @Test func propertiesOverRandomMatrices() {
        var rng = SplitMix64(seed: 0x12A)
        for _ in 0 ..< 300 {
            let n = Int.random(in: 1 ... 12, using: &rng)
            let p = Int.random(in: 1 ... 8, using: &rng)
            let share = Double.random(in: 0 ... (1 / Double(p)), using: &rng)
            let bw = (0 ..< n).map { _ in Double.random(in: 0 ... 1e10, using: &rng) }
            // q[i][j*p + prio], sparse.
            let q = (0 ..< n).map { _ in
                (0 ..< n * p).map { _ in Bool.random(using: &rng) ? 0 : Double(UInt32.random(in: 0 ... 1 << 22, using: &rng)) }
            }
            var r = [[Double]](repeating: [Double](repeating: 0, count: n * p), count: n)
            var column = [Double](repeating: 0, count: n * p), grants: [Double] = []
            for j in 0 ..< n {
                for i in 0 ..< n { for k in 0 ..< p { column[i * p + k] = q[i][j * p + k] } }
                RateAllocation.destinationGrants(queues: column, priorities: p, bandwidth: bw[j], minimumShare: share, into: &grants)
                let sum = grants.reduce(0, +)
                #expect(sum <= bw[j] * (1 + 1e-12))
                if column.contains(where: { $0 > 0 }) { #expect(sum >= bw[j] * (1 - 1e-9)) }
                for i in 0 ..< n { for k in 0 ..< p { r[i][j * p + k] = grants[i * p + k] } }
            }
            var rHat: [Double] = []
            for i in 0 ..< n {
                RateAllocation.sourceRates(grants: r[i], priorities: p, bandwidth: bw[i], minimumShare: share, into: &rHat)
                #expect(rHat.reduce(0, +) <= bw[i] * (1 + 1e-12))
                for (x, y) in zip(rHat, r[i]) { #expect(x <= y && x >= 0) }
                if r[i].reduce(0, +) <= bw[i] { #expect(rHat == r[i]) }
            }
        }
    }

    @Test func everyNonEmptyPriorityGetsItsFloor() {
        var rng = SplitMix64(seed: 7)
        for _ in 0 ..< 500 {
            let p = Int.random(in: 1 ... 8, using: &rng)
            let share = 1 / Double(p * 2)
            var demand = SIMD8<Double>(repeating: 0)
            for k in 0 ..< p where Bool.random(using: &rng) { demand[k] = Bool.random(using: &rng) ? .infinity : Double.random(in: 0 ... 200, using: &rng) }
            let b = RateAllocation.priorityBudgets(bandwidth: 100, demand: demand, priorities: p, minimumShare: share)
            var sum = 0.0
            for k in 0 ..< p {
                #expect(b[k] <= demand[k])
                #expect(b[k] >= min(demand[k], 100 * share))
                sum += b[k]
            }
            #expect(sum <= 100 * (1 + 1e-12))
        }
    }

    @Test func unitsDecodeWithinOneUnit() {
        var rng = SplitMix64(seed: 16)
        let units = FlowUnits(queueUnitBytes: 64, rateUnitBytesPerSecond: 1 << 24)
        for _ in 0 ..< 10_000 {
            let bytes = UInt64.random(in: 0 ... 65535 * 64, using: &rng)
            let back = units.decodeQueue(units.encodeQueue(bytes: bytes))
            #expect(back >= bytes && back - bytes < 64)
            if bytes > 0 { #expect(units.encodeQueue(bytes: bytes) > 0) }
            let rate = Double.random(in: 0 ... 65535 * Double(1 << 24), using: &rng)
            let decoded = units.decodeRate(units.encodeRate(bytesPerSecond: rate))
            #expect(abs(decoded - rate) < Double(1 << 24))
            if rate >= Double(1 << 24) { #expect(decoded <= rate) }
        }
        #expect(units.encodeQueue(bytes: 1 << 40) == .max)
        #expect(units.encodeRate(bytesPerSecond: 1e30) == .max)
        #expect(units.encodeRate(bytesPerSecond: 1) == 1 && units.encodeRate(bytesPerSecond: 0) == 0)
    }
}
