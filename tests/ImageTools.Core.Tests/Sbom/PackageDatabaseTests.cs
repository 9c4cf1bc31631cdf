using System.Text;
using FluentAssertions;
using ImageTools.Core.Sbom;
using Xunit;

namespace ImageTools.Core.Tests.Sbom;

/// <summary>The dpkg and apk database readers on small written examples and under seeded random damage.</summary>
public sealed class PackageDatabaseTests
{
    private const string Status =
        "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 2.36-9+deb12u4\nDescription: GNU C Library\n continued line\n\n" +
        "Package: oldpkg\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n\n" +
        "Package: half\nStatus: install reinstreq half-installed\nArchitecture: all\nVersion: 2\n\n" +
        "Package: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 1:2024a-0+deb12u1\n";

    [Fact]
    public void Only_installed_dpkg_packages_are_listed_with_epoch_encoded_purls()
    {
        var os = new OsRelease("debian", "12", "Debian GNU/Linux 12 (bookworm)");

        var packages = DpkgDatabase.Read(new NoFiles(), os, Encoding.UTF8.GetBytes(Status));

        packages.Select(p => p.Name).Should().Equal("libc6", "tzdata");
        packages[0].Purl.Should().Be("pkg:deb/debian/libc6@2.36-9+deb12u4?arch=amd64&distro=debian-12");
        packages[1].Purl.Should().Be("pkg:deb/debian/tzdata@1%3A2024a-0+deb12u1?arch=all&distro=debian-12");
    }

    [Fact]
    public void A_machine_readable_copyright_gives_its_files_licenses_and_a_free_form_one_none()
    {
        var dep5 = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\nFiles: *\nCopyright: me\nLicense: GPL-2+\n\nFiles: lib/*\nCopyright: you\nLicense: LGPL-2.1+\n text\n\nLicense: GPL-2+\n The text.\n";

        DpkgDatabase.CopyrightLicenses(Encoding.UTF8.GetBytes(dep5)).Should().Equal("GPL-2+", "LGPL-2.1+");
        DpkgDatabase.CopyrightLicenses(Encoding.UTF8.GetBytes("This package was debianized by...\nLicense: GPL\n")).Should().BeEmpty();
    }

    [Fact]
    public void Os_release_values_may_be_quoted()
    {
        var os = OsRelease.Parse(Encoding.UTF8.GetBytes("# comment\nID=alpine\nVERSION_ID='3.20.3'\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"));

        os.Should().Be(new OsRelease("alpine", "3.20.3", "Alpine Linux v3.20"));
        os!.Distro.Should().Be("alpine-3.20.3");
    }

    [Fact]
    public void Seeded_damage_to_the_databases_never_throws()
    {
        var status = Encoding.UTF8.GetBytes(Status);
        var apk = Encoding.UTF8.GetBytes("P:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\n\nP:busybox\nV:1.36.1-r29\nA:x86_64\n");
        var random = new Random(4242);
        for (var round = 0; round < 500; round++)
        {
            var s = Damage(status, random);
            var a = Damage(apk, random);
            var act = () =>
            {
                DpkgDatabase.Read(new NoFiles(), null, s);
                ApkDatabase.Read(null, a);
                DpkgDatabase.CopyrightLicenses(s);
                OsRelease.Parse(a);
            };
            act.Should().NotThrow($"round {round}");
        }
    }

    private static byte[] Damage(byte[] original, Random random)
    {
        var copy = (byte[])original.Clone();
        for (var i = 0; i < 1 + random.Next(8); i++)
        {
            copy[random.Next(copy.Length)] = (byte)random.Next(256);
        }
        return random.Next(4) == 0 ? copy[..random.Next(copy.Length)] : copy;
    }

    private sealed class NoFiles : IRootFiles
    {
        public byte[]? Read(string path) => null;

        public IReadOnlyList<string> ListFiles(string directory) => [];
    }
}
