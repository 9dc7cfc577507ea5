import Testing
@testable import HNALab
