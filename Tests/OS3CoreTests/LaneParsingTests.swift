import FoundationEssentials
import Testing
@testable import OS3Core

@Suite("Lane files")
struct LaneParsingTests {
    static let good = """
    description = "test lane"
    accelerator = "kvm"
    machine = "microvm"
    memory = "16G"
    cpus = 2
    cpu = "host,-arch-capabilities"
    append = "os3.lane=x"
    markers = ["boot", "highmem"]
    success-exit = 33
    firmware = "/usr/share/qemu/qboot.rom"
    qemu-args = ["-d", "guest_errors"]

    [timeouts]
    total = 30
    idle = 2.5
    """

    @Test("a complete lane file yields every setting")
    func parsesEverything() throws {
        let lane = try Lane.parse(name: "big", file: "lanes/big.toml", text: Self.good)
        #expect(lane.name == "big")
        #expect(lane.accelerator == .kvm)
        #expect(lane.machine == "microvm")
        #expect(lane.memory == "16G")
        #expect(lane.memoryMiB == 16 * 1024)
        #expect(lane.cpus == 2)
        #expect(lane.cpuModel == "host,-arch-capabilities")
        #expect(lane.append == "os3.lane=x")
        #expect(lane.markerFiles == ["boot", "highmem"])
        #expect(lane.successExitCode == 33)
        #expect(lane.totalTimeout == 30)
        #expect(lane.idleTimeout == 2.5)
        #expect(lane.firmware == "/usr/share/qemu/qboot.rom")
        #expect(lane.qemuArgs == ["-d", "guest_errors"])
    }

    @Test("optional keys take their documented defaults")
    func defaults() throws {
        let text = """
        accelerator = "tcg"
        machine = "q35"
        memory = "128M"
        cpus = 1
        cpu = "qemu64"
        markers = ["boot"]
        [timeouts]
        total = 10
        idle = 5
        """
        let lane = try Lane.parse(name: "t", file: "lanes/t.toml", text: text)
        #expect(lane.successExitCode == 33)
        #expect(lane.append == "")
        #expect(lane.firmware == nil)
        #expect(lane.qemuArgs.isEmpty)
    }

    static func error(_ text: String) -> OS3Error? {
        do {
            _ = try Lane.parse(name: "bad", file: "lanes/bad.toml", text: text)
            return nil
        } catch let e as OS3Error {
            return e
        } catch {
            return nil
        }
    }

    @Test("a misspelt key is rejected with its line and a suggestion")
    func unknownKey() throws {
        let e = try #require(Self.error(Self.good.replacingAll("memory = ", with: "memroy = ")))
        #expect(e.code == .invalidLane)
        #expect(e.file == "lanes/bad.toml")
        #expect(e.line == 4)
        #expect(e.message.contains("memroy"))
        #expect(e.fix?.contains("did you mean 'memory'") == true)
    }

    @Test("a value of the wrong type names the key and its line")
    func wrongType() throws {
        let e = try #require(Self.error(Self.good.replacingAll("cpus = 2", with: "cpus = \"two\"")))
        #expect(e.line == 5)
        #expect(e.message.contains("'cpus' must be an integer"))
    }

    @Test("an unknown accelerator is rejected and the fix lists the valid ones")
    func badAccelerator() throws {
        let e = try #require(Self.error(Self.good.replacingAll("\"kvm\"", with: "\"hvf\"")))
        #expect(e.line == 2)
        #expect(e.fix?.contains("\"kvm\" or \"tcg\"") == true)
    }

    @Test("a memory size QEMU would not understand is rejected", arguments: ["lots", "16Q", "", "-1G"])
    func badMemory(_ memory: String) throws {
        let e = try #require(Self.error(Self.good.replacingAll("\"16G\"", with: "\"\(memory)\"")))
        #expect(e.line == 4)
    }

    @Test("a TOML syntax error reports the line TOML stopped at")
    func syntaxError() throws {
        let e = try #require(Self.error(Self.good.replacingAll("markers = [\"boot\", \"highmem\"]", with: "markers = [\"boot\", \"highmem\"")))
        #expect(e.message.contains("not valid TOML"))
        #expect(e.line != nil)
        #expect(e.line! >= 8)
    }

    @Test("a missing [timeouts] section is an error that shows what to add")
    func missingTimeouts() throws {
        let text = Self.good.split(separator: "\n").prefix(while: { !$0.hasPrefix("[timeouts]") }).joined(separator: "\n")
        let e = try #require(Self.error(text))
        #expect(e.message.contains("[timeouts]"))
        #expect(e.fix?.contains("idle") == true)
    }

    @Test("an idle timeout longer than the total is rejected at its line")
    func idleLongerThanTotal() throws {
        let e = try #require(Self.error(Self.good.replacingAll("idle = 2.5", with: "idle = 45")))
        #expect(e.line == 15)
    }

    @Test("a lane that requires no markers is refused: it could pass without checking anything")
    func noMarkers() throws {
        let e = try #require(Self.error(Self.good.replacingAll("markers = [\"boot\", \"highmem\"]", with: "markers = []")))
        #expect(e.line == 8)
    }

    @Test("memory sizes follow QEMU's suffixes", arguments: [("256M", 256), ("16G", 16384), ("512", 512), ("2048K", 2), ("1T", 1_048_576), ("4GB", 4096)])
    func memorySizes(_ text: String, _ mib: Int) {
        #expect(Lane.parseMemory(text) == mib)
    }

    @Test("console input is typed after a marker; an empty text is refused at its line")
    func consoleInput() throws {
        let lane = try Lane.parse(name: "rx", file: "lanes/rx.toml", text: Self.good + "\n[console-input]\nafter = \"boot\"\ntext = \"ello\"\n")
        #expect(lane.consoleInput == Lane.ConsoleInput(after: "boot", text: "ello"))
        let e = try #require(Self.error(Self.good + "\n[console-input]\ntext = \"\"\n"))
        #expect(e.line == 17)
    }

    @Test("success = \"poweroff\" makes a lane pass by a clean guest poweroff instead of an exit code")
    func successPoweroff() throws {
        let lane = try Lane.parse(name: "off", file: "lanes/off.toml",
                                  text: Self.good.replacingAll("success-exit = 33", with: "success = \"poweroff\""))
        #expect(lane.success == .poweroff)
        #expect(lane.successExitCode == nil)
        #expect(try Lane.parse(name: "big", file: "lanes/big.toml", text: Self.good).success == .exitCode(33))
        // In JSON (`lanes --json`, records) as in the file, and back.
        for form in [Lane.Success.poweroff, .exitCode(33)] {
            let json = try JSONEncoder().encode(form)
            #expect(String(decoding: json, as: UTF8.self) == (form == .poweroff ? "\"poweroff\"" : "33"))
            #expect(try JSONDecoder().decode(Lane.Success.self, from: json) == form)
        }
    }

    @Test("success and success-exit together are refused at the line of success, with the fix")
    func successBothForms() throws {
        let e = try #require(Self.error(Self.good.replacingAll("success-exit = 33", with: "success-exit = 33\nsuccess = \"poweroff\"")))
        #expect(e.code == .invalidLane)
        #expect(e.line == 10)
        #expect(e.message.contains("not both"))
        #expect(e.fix?.contains("keep one") == true)
    }

    @Test("a success form other than poweroff is refused at its line", arguments: ["reboot", "exit", ""])
    func successUnknownForm(_ form: String) throws {
        let e = try #require(Self.error(Self.good.replacingAll("success-exit = 33", with: "success = \"\(form)\"")))
        #expect(e.line == 9)
        #expect(e.fix?.contains("success = \"poweroff\"") == true)
    }

    @Test("success-exit stays 1...255: exit 0 is what QEMU gives for too many ends to prove anything", arguments: [0, 256])
    func successExitRange(_ code: Int) throws {
        let e = try #require(Self.error(Self.good.replacingAll("success-exit = 33", with: "success-exit = \(code)")))
        #expect(e.line == 9)
    }

    @Test("a timeout of nan or inf (TOML floats, and 1e400 is inf) is refused at its line",
          arguments: ["nan", "+nan", "-nan", "inf", "+inf", "-inf", "1e400", "-1", "0"])
    func nonFiniteTimeouts(_ value: String) throws {
        for key in ["total", "idle"] {
            let e = try #require(Self.error(Self.good.replacingAll(key == "total" ? "total = 30" : "idle = 2.5", with: "\(key) = \(value)")),
                                 "\(key) = \(value) was accepted")
            #expect(e.line == (key == "total" ? 14 : 15))
            #expect(e.message.contains("'\(key)'"))
        }
        let e = try #require(Self.error(Self.good.replacingAll("total = 30", with: "total = \(value)")))
        if value.contains("nan") || value.contains("inf") || value == "1e400" { #expect(e.message.contains("not a finite number of seconds")) }
    }

    @Test("a multi-megabyte unknown key is reported at once, quoted in at most 80 characters")
    func hugeUnknownKey() throws {
        let key = String(repeating: "x", count: 4 << 20)
        let e = try #require(Self.error(key + " = 1\n" + Self.good))
        #expect(e.message.hasPrefix("unknown key '" + String(repeating: "x", count: 80) + "…'"))
        #expect(e.description.count < 400)
        // Near an allowed key, the suggestion still comes.
        #expect(try #require(Self.error("cpuss = 1\n" + Self.good)).fix?.contains("did you mean 'cpus'") == true)
    }

    @Test("of many unknown keys the first in the file is reported")
    func firstUnknownKey() throws {
        let keys = (0..<50_000).map { "zz\($0) = 1\n" }.joined()
        let e = try #require(Self.error(keys + Self.good))
        #expect(e.message.contains("'zz0'"))
        #expect(e.line == 1)
    }

    @Test("a lane file with an invalid UTF-8 byte is reported at its line and column, not taken as absent")
    func invalidUTF8() throws {
        let bytes = Array("accelerator = \"kvm\"\ndescription = \"caf".utf8) + [0xE9] + Array("\"\n".utf8)
        do {
            _ = try Lane.parse(name: "bad", file: "lanes/bad.toml", bytes: bytes)
            Issue.record("accepted")
        } catch let e as OS3Error {
            #expect(e.code == .invalidLane)
            #expect(e.description.hasPrefix("lanes/bad.toml:2: error: not valid UTF-8 (byte 0xE9 at column 19)"), "\(e)")
            #expect(e.fix?.contains("UTF-8") == true)
        }
    }

    @Test("a marker file listed twice is refused at the markers line")
    func markersListedTwice() throws {
        let e = try #require(Self.error(Self.good.replacingAll("[\"boot\", \"highmem\"]", with: "[\"boot\", \"highmem\", \"boot\"]")))
        #expect(e.line == 8)
        #expect(e.message.contains("'boot' is listed twice"))
    }

    @Test("lane files nested too deep are refused with the lane's code, file and line")
    func deepLane() throws {
        let e = try #require(Self.error(Self.good + "\nx = " + String(repeating: "[", count: 40_000) + String(repeating: "]", count: 40_000) + "\n"))
        #expect(e.code == .invalidLane)
        #expect(e.line == 16)
        #expect(e.message.contains("nest more than 64 levels"))
    }
}
