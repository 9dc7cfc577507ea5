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
        .library(name: "HNALinux", targets: ["HNALinux"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // Wire formats: checked views and value types for every header HNA reads or writes, pcap I/O,
        // and the layer-by-layer dissector behind `hna decode`. Depends on nothing.
        .target(name: "HNAWire", swiftSettings: strict),

        // The glibc and kernel calls Swift cannot reach directly: TUN/TAP ioctls, recvmmsg/sendmmsg with
        // UDP GSO/GRO control messages, epoll, timerfd, signalfd, setns.
        .target(name: "CHNALinux"),

        // Real I/O for the daemon: TAP devices, batched underlay UDP sockets, the epoll event loop with
        // deadline timers and signals, and the ip/tc/sysctl helpers that build namespaces and links.
        .target(
            name: "HNALinux",
            dependencies: [
                "CHNALinux",
                "HNAWire",
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: strict
        ),

        // Benchmark harness and the benchmarks behind `hna bench` (drivers: they read the clock).
        .target(name: "HNABench", dependencies: ["HNAWire"], swiftSettings: strict),

        // The thin command-line front end: argument parsing and wiring only.
        .executableTarget(
            name: "hna",
            dependencies: [
                "HNAWire",
                "HNABench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // libFuzzer targets, one per parser (scripts/fuzz.sh builds with -sanitize=fuzzer and runs them).
        .executableTarget(name: "hna-fuzz", dependencies: ["HNAWire"], swiftSettings: strict),

        // Shared by the test targets: seeded randomness for property tests.
        .target(name: "HNATestSupport", path: "Tests/HNATestSupport", swiftSettings: strict),
        .testTarget(name: "HNAWireTests", dependencies: ["HNAWire", "HNATestSupport"], exclude: ["Fixtures"],
                    swiftSettings: strict),
        .testTarget(name: "HNALinuxTests", dependencies: ["HNALinux", "HNAWire", "HNATestSupport"],
                    swiftSettings: strict),
    ]
)
