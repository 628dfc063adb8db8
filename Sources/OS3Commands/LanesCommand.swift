import ArgumentParser
import FoundationEssentials
import Glibc
import OS3Core
import OS3Runner

struct LanesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lanes",
        abstract: "List the lanes, their settings, and whether this machine can run each one now.",
        discussion: """
        Every lane file and the marker files it names are parsed: a mistake in any of them is \
        reported with its file and line (exit 2). A lane this machine cannot run (no KVM, no QEMU for \
        its architecture, missing firmware) says why.

        EXAMPLES:
          os3ctl lanes
          os3ctl lanes --json
          os3ctl lanes --project examples/aarch64-virt
        """)

    @OptionGroup var options: ProjectLocation
    @OptionGroup var view: ViewOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    struct Row: Codable {
        var lane: Lane
        var markers: Int
        var runnable: Bool
        var reason: String?
    }

    func run() throws {
        view.apply()
        let project = try options.locate()
        let rows = try project.loadLanes().map { lane -> Row in
            let markers = try project.markers(for: lane)
            let why = HostProbe.skipReason(for: lane)
            return Row(lane: lane, markers: markers.required.count, runnable: why == nil, reason: why)
        }
        if json { printOut(encodeJSON(rows)); return }
        let header = ["LANE", "ACCEL", "MACHINE", "MEMORY", "CPUS", "CPU", "MARKERS", "TIMEOUTS", "RUNNABLE"]
        let cells = rows.map { r in
            [r.lane.name, r.lane.accelerator.rawValue, r.lane.machine, r.lane.memory, String(r.lane.cpus), r.lane.cpuModel,
             "\(r.markers) (\(r.lane.markerFiles.joined(separator: ",")))",
             "\(fmt(r.lane.totalTimeout))s/\(fmt(r.lane.idleTimeout))s idle",
             r.runnable ? "yes" : "NO: \(r.reason ?? "")"]
        }
        var widths = header.map(\.count)
        for row in cells { for (i, c) in row.enumerated() { widths[i] = max(widths[i], c.count) } }
        for row in [header] + cells {
            printOut(row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(to: widths[i]) }.joined(separator: "  "))
        }
        for r in rows where !r.lane.description.isEmpty { printErr("\(r.lane.name): \(r.lane.description)") }
    }

    private func fmt(_ d: Double) -> String { d == d.rounded() ? String(Int(d)) : String(d) }
}
