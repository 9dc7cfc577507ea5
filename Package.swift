// swift-tools-version:6.0
// HNA — a software host network accelerator. See docs/architecture.md for the module map and the
// dependency rules between targets.
import PackageDescription

/// Settings every target shares: Swift 6 language mode, and full optimisation of generic code across
/// the core's module boundary in release builds (the datapath lives in several modules).
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "HNA",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hna", targets: ["hna"]),
        .library(name: "HNAWire", targets: ["HNAWire"]),
        .library(name: "HNACore", targets: ["HNACore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
    ],
    targets: [
        // Wire formats: checked views and value types for every header HNA reads or writes, pcap I/O,
        // and the layer-by-layer dissector behind `hna decode`. Depends on nothing.
        .target(name: "HNAWire", swiftSettings: strict),

        // The communications controller (FIG. 4 item 147): virtual output queues, scheduler, flow control
        // and reliable delivery, as a sans-I/O state machine. Policies: docs/flow-control.md.
        .target(
            name: "HNACore",
            dependencies: [
                "HNAWire",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),

        // The discrete-event fabric simulator: engine, fabrics, workloads, baselines, metrics, output.
        // Its hosts run HNACore's controller.
        .target(
            name: "HNASim",
            dependencies: ["HNAWire", "HNACore", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),

        // Benchmark harness and the benchmarks behind `hna bench` (drivers: they read the clock).
        .target(name: "HNABench", dependencies: ["HNAWire", "HNACore", "HNASim"], swiftSettings: strict),

        // The thin command-line front end: argument parsing and wiring only.
        .executableTarget(
            name: "hna",
            dependencies: [
                "HNAWire",
                "HNACore",
                "HNABench",
                "HNASim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // libFuzzer targets, one per parser (scripts/fuzz.sh builds with -sanitize=fuzzer and runs them).
        .executableTarget(name: "hna-fuzz", dependencies: ["HNAWire"], swiftSettings: strict),

        // Shared by the test targets: seeded randomness for property tests.
        .target(name: "HNATestSupport", path: "Tests/HNATestSupport", swiftSettings: strict),
        .testTarget(name: "hnaTests", dependencies: ["hna", "HNAWire", "HNATestSupport"], swiftSettings: strict),
        .testTarget(name: "HNAWireTests", dependencies: ["HNAWire", "HNATestSupport"], exclude: ["Fixtures"],
                    swiftSettings: strict),
        .testTarget(name: "HNASimTests", dependencies: ["HNASim", "HNATestSupport"], swiftSettings: strict),
        .testTarget(
            name: "HNACoreTests",
            dependencies: ["HNACore", "HNAWire", "HNATestSupport", .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: strict
        ),
    ]
)
