/// The two standard data-center workloads, built in so every checkout (and CI) runs the same scenarios
/// without files outside the repository. Origin: the web-search workload of the DCTCP paper (SIGCOMM
/// 2010) and the Facebook Hadoop workload of Roy et al. (SIGCOMM 2015), as published with the HPCC
/// paper's simulation (traffic_gen/WebSearch_distribution.txt and FbHdp_distribution.txt). Format: one
/// point per line, `size_bytes cumulative_percent` (FlowSizeDistribution parses it).
enum BuiltinWorkloads {
    static let all: [String: String] = [
        "websearch": """
        0 0
        10000 15
        20000 20
        30000 30
        50000 40
        80000 53
        200000 60
        1000000 70
        2000000 80
        5000000 90
        10000000 97
        30000000 100
        """,
        "fb-hadoop": """
        0 0
        100 1
        200 2
        300 5
        350 15
        400 20
        500 30
        600 40
        700 50
        1000 60
        2000 67
        7000 70
        30000 72
        50000 82
        80000 87
        120000 90
        300000 95
        1000000 97.5
        2000000 99
        10000000 100
        """,
    ]
}
