import Foundation
import Testing
import OS3Core
import OS3Libvirt
import OS3Runner

extension LibvirtTests {
    /// The boot methods and architectures through libvirt: the domain XML libvirt is given must
    /// boot the same guests as QEMU's own argv does (BootMethodTests).
    @Suite("boot methods and architectures through the embedded driver")
    struct EmbeddedBootMethods {
        static func expectPass(_ r: RunRecord) {
            #expect(r.verdict.kind == .pass, "\(r.verdict.detail) — \(r.runDirectory)")
            #expect(r.end == .exited(33), "QEMU's real exit status, reaped by os3ctl")
            #expect(r.backend?.hasPrefix("libvirt qemu:///embed?root=") == true)
        }

        static func domainXML(_ r: RunRecord) throws -> String {
            try String(contentsOfFile: "\(r.runDirectory)/domain.xml", encoding: .utf8)
        }

        @Test("cdrom: SeaBIOS boots GRUB from the ISO, <boot dev='cdrom'/> and no <kernel>",
              .enabled(if: BootImages.missing("cd.iso") == nil, "\(BootImages.missing("cd.iso") ?? "")"))
        func cdrom() throws {
            let r = try BootImages.boot("v-cdrom", markers: "bios", on: LibvirtFixture.embedded, """
                machine = "pc"
                cpu = "qemu64"
                [boot]
                method = "cdrom"
                cdrom = "images/cd.iso"
                """)
            Self.expectPass(r)
            let xml = try Self.domainXML(r)
            #expect(xml.contains("<boot dev='cdrom'/>"))
            #expect(!xml.contains("<kernel>"))
        }

        @Test("uefi: OVMF as pflash with libvirt's copy of the variables in the run directory, the ESP directory read-only",
              .enabled(if: BootImages.missing("esp/EFI/BOOT/BOOTX64.EFI", needs: [BootMethodTests.ovmfCode, BootMethodTests.ovmfVars]) == nil,
                       "\(BootImages.missing("esp/EFI/BOOT/BOOTX64.EFI", needs: [BootMethodTests.ovmfCode, BootMethodTests.ovmfVars]) ?? "")"))
        func uefi() throws {
            let r = try BootImages.boot("v-uefi", markers: "uefi", on: LibvirtFixture.embedded, """
                machine = "q35"
                cpu = "qemu64"
                [boot]
                method = "uefi"
                firmware-code = "\(BootMethodTests.ovmfCode)"
                firmware-vars = "\(BootMethodTests.ovmfVars)"
                esp = "images/esp"
                """)
            Self.expectPass(r)
            #expect(try Self.domainXML(r).contains("<nvram template='\(BootMethodTests.ovmfVars)'>\(r.runDirectory)/efivars.fd</nvram>"))
            #expect(FileManager.default.fileExists(atPath: "\(r.runDirectory)/efivars.fd"))
        }

        @Test("aarch64: a bare-metal ELF on virt, exiting through semihosting, with no isa-debug-exit in the domain",
              .enabled(if: BootImages.missing("a64.elf", needs: ["qemu-system-aarch64"]) == nil,
                       "\(BootImages.missing("a64.elf", needs: ["qemu-system-aarch64"]) ?? "")"))
        func aarch64() throws {
            let r = try BootImages.boot("v-aarch64", markers: "aarch64", on: LibvirtFixture.embedded, """
                arch = "aarch64"
                [boot]
                kernel = "images/a64.elf"
                exit-device = "semihosting"
                """)
            Self.expectPass(r)
            let xml = try Self.domainXML(r)
            #expect(xml.contains("<type arch='aarch64' machine='virt'>hvm</type>"))
            #expect(!xml.contains("isa-debug-exit"))
        }
    }
}
