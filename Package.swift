// swift-tools-version:6.0
// HNA — a software host network accelerator. See docs/architecture.md for the module map and the
// dependency rules between targets.
import PackageDescription

/// Settings every target shares: Swift 6 language mode.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let collections: [Target.Dependency] = [
    .product(name: "DequeModule", package: "swift-collections"),
    .product(name: "HeapModule", package: "swift-collections"),
]

let package = Package(
    name: "HNA",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "hna", targets: ["hna"]),
        .library(name: "HNAWire", targets: ["HNAWire"]),
        .library(name: "HNACore", targets: ["HNACore"]),
        .library(name: "HNALinux", targets: ["HNALinux"]),
        .library(name: "HNARouter", targets: ["HNARouter"]),
        .library(name: "HNANode", targets: ["HNANode"]),
        .library(name: "HNALab", targets: ["HNALab"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    ],
    targets: [
        // Wire formats: checked views and value types for every header HNA reads or writes, pcap I/O,
        // and the layer-by-layer dissector behind `hna decode`. Depends on nothing.
        .target(name: "HNAWire", swiftSettings: strict),

        // The communications controller (FIG. 4 item 147): virtual output queues, scheduler, flow control
        // and reliable delivery, as a sans-I/O state machine. Policies: docs/flow-control.md.
        .target(
            name: "HNACore",
            dependencies: ["HNAWire", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: strict
        ),

        // The discrete-event fabric simulator: engine, fabrics, workloads, baselines, metrics, output.
        // Its hosts run HNACore's controller.
        .target(
            name: "HNASim",
            dependencies: ["HNAWire", "HNACore", .product(name: "Yams", package: "Yams")],
            swiftSettings: strict
        ),

        // The glibc and kernel calls Swift cannot reach directly: TUN/TAP ioctls, recvmmsg/sendmmsg with
        // UDP GSO/GRO control messages, epoll, timerfd, signalfd, setns.
        .target(name: "CHNALinux"),

        // Real I/O for the daemon: TAP devices, batched underlay UDP sockets, the epoll event loop with
        // deadline timers and signals, and the ip/tc/sysctl helpers that build namespaces and links.
        .target(
            name: "HNALinux",
            dependencies: ["CHNALinux", "HNAWire", .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: strict
        ),

        // `hna lab`: a small data center of network namespaces on one machine (hosts running HNA daemons
        // or kernel VXLAN, VMs, a bridge as the fabric), its checks and report, and `hna bench lab`.
        .target(name: "HNALab", dependencies: ["HNALinux", "HNAWire", "HNACore", "HNABench"], swiftSettings: strict),

        // Benchmark harness and the benchmarks behind `hna bench` (drivers: they read the clock).
        .target(name: "HNABench", dependencies: ["HNAWire", "HNACore", "HNARouter", "HNASim"], swiftSettings: strict),

        // The virtual router (FIG. 4 item 128): VRFs, FIBs, next hops, flow table, policy, slow path,
        // overlay encapsulation, proxy ARP/ND, drop counters. Sans-I/O. See docs/router.md.
        .target(name: "HNARouter", dependencies: ["HNAWire"], swiftSettings: strict),

        // One HNA: the router and the communications controller wired together, sans-I/O, fed batches by
        // the daemon (and later the simulator). See docs/daemon.md.
        .target(name: "HNANode", dependencies: ["HNARouter", "HNACore", "HNAWire"], swiftSettings: strict),

        // The daemon: YAML configuration, the event-loop driver of HNANode over TAPs and UDP sockets,
        // reload/drain, the control socket and metrics. See docs/daemon.md.
        .target(
            name: "HNADaemon",
            dependencies: ["HNANode", "HNALinux", "HNARouter", "HNACore", "HNAWire",
                           .product(name: "Yams", package: "Yams"),
                           .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),

        // The thin command-line front end: argument parsing and wiring only.
        .executableTarget(
            name: "hna",
            dependencies: [
                "HNAWire",
                "HNACore",
                "HNABench",
                "HNASim",
                "HNADaemon",
                "HNANode",
                "HNALab",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        // libFuzzer targets, one per parser (scripts/fuzz.sh builds with -sanitize=fuzzer and runs them).
        .executableTarget(name: "hna-fuzz", dependencies: ["HNAWire"], swiftSettings: strict),

        // Shared by the test targets: seeded randomness, external tools, the built hna command.
        .target(name: "HNATestSupport", path: "Tests/HNATestSupport", swiftSettings: strict),
        .testTarget(name: "hnaTests", dependencies: ["hna", "HNAWire", "HNATestSupport"], swiftSettings: strict),
        .testTarget(name: "HNAWireTests", dependencies: ["HNAWire", "HNATestSupport"], exclude: ["Fixtures"],
                    swiftSettings: strict),
        .testTarget(name: "HNASimTests", dependencies: ["HNASim", "HNATestSupport"], swiftSettings: strict),
        .testTarget(name: "HNACoreTests", dependencies: ["HNACore", "HNAWire", "HNATestSupport"] + collections,
                    swiftSettings: strict),
        .testTarget(name: "HNALabTests", dependencies: ["HNALab", "HNALinux", "HNAWire", "HNATestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "HNALinuxTests", dependencies: ["HNALinux", "HNAWire", "HNATestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "HNANodeTests", dependencies: ["HNANode", "HNARouter", "HNACore", "HNAWire", "HNATestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "HNADaemonTests", dependencies: ["HNADaemon", "HNANode", "HNACore", "HNALinux", "HNAWire", "HNATestSupport"],
                    swiftSettings: strict),
        .testTarget(name: "HNARouterTests", dependencies: ["HNARouter", "HNATestSupport"], swiftSettings: strict),
    ]
)
