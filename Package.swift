// swift-tools-version:6.1
// os3ctl: build the os3 kernel, boot it in QEMU lanes, judge each boot by markers and exit code.
// The kernel's own pure logic is a separate package in kernel/ (its host tests run there).
import PackageDescription

let package = Package(
    name: "os3ctl",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "os3ctl", targets: ["os3ctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The executable: one file that hands over to OS3Commands.
        // Linked as a position-dependent executable: with PIE the loader applies ~75,000 relocations
        // at every start (≈ 1.5 ms here, on the critical path of every `boot`; docs/BENCHMARKS.md).
        // `link/` holds a linker script named libstdc++.so that swiftc's `-lstdc++` finds first: the
        // C++ runtime the Swift runtime needs is linked in statically, not loaded (~0.9 ms a start).
        // Its version names the commit it was built from (Plugins/BuildCommit, before every build).
        .executableTarget(name: "os3ctl", dependencies: ["OS3Commands"], exclude: ["link"],
                          linkerSettings: [.unsafeFlags(["-Xlinker", "-no-pie", "-L", "\(Context.packageDirectory)/Sources/os3ctl/link"],
                                                        .when(platforms: [.linux]))],
                          plugins: ["BuildCommit"]),
        // `git describe` of the checkout as `buildCommit` (a prebuild command: no tool to build).
        .plugin(name: "BuildCommit", capability: .buildTool()),
        // One command per file; owns the CLI and terminal output.
        .target(name: "OS3Commands", dependencies: [
            "OS3Core", "OS3Runner", "OS3Libvirt",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Everything that touches processes, files of the host, and the toolchain.
        .target(name: "OS3Runner", dependencies: ["OS3Core", "COS3Sys"]),
        // Boots lanes through libvirt's C API (embedded driver, libvirtd, remote hosts): `LibvirtBackend`.
        .target(name: "OS3Libvirt", dependencies: ["OS3Core", "OS3Runner", "CLibvirt", "COS3Sys"]),
        // libvirt's C API (libvirt.h, libvirt.so) through pkg-config; .ci/setup installs libvirt-dev.
        .target(name: "CLibvirt", linkerSettings: [.linkedLibrary("dl")]),
        // Linux calls Swift cannot make directly (variadic prctl/ioctl, fork+exec with a parent-death signal).
        .target(name: "COS3Sys"),
        // The pure core: lanes, markers, matching, verdicts, records, reports. No processes, no CLI.
        .target(name: "OS3Core", dependencies: ["COS3Bytes"]),
        // Fast substring search for the marker matcher (glibc memmem).
        .target(name: "COS3Bytes"),
        .testTarget(name: "OS3CoreTests", dependencies: ["OS3Core"]),
        .testTarget(name: "OS3CommandsTests", dependencies: ["OS3Commands", "OS3Core"]),
        .testTarget(name: "OS3IntegrationTests", dependencies: ["OS3Core", "OS3Runner", "OS3Libvirt", "COS3Sys", "os3ctl"]),
    ]
)
