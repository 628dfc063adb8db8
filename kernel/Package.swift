// swift-tools-version:6.1
// Host build of the kernel's pure logic (kernel/Pure): the very files that are compiled into the
// Embedded Swift image are compiled here for the host and tested with `swift test`.
import PackageDescription

let package = Package(
    name: "os3-kernel-pure",
    products: [.library(name: "KernelPure", targets: ["KernelPure"])],
    targets: [
        .target(name: "KernelPure", path: "Pure"),
        .testTarget(name: "KernelPureTests", dependencies: ["KernelPure"], path: "Tests/KernelPureTests"),
    ]
)
