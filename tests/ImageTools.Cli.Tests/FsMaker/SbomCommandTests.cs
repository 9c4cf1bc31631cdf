extern alias JsonSchemaNet;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Cli.Tests.FsMaker;

using JsonSchemaNet::Json.Schema;
using Cli = ImageTools.TestSupport.Cli;

/// <summary>
/// <c>fsmaker sbom</c> against the references: dpkg-query on a real dpkg database (this machine's /var/lib/dpkg/status,
/// copied into a root tree, an ext4 image made by mkfs.ext4 -d, a partition of a disk and a GNU tar archive), an apk
/// database in Alpine's documented format, and the CycloneDX 1.5 JSON schema (from the npm package
/// @cyclonedx/cyclonedx-library, cached by scripts/fetch-schemas.sh), which must reject a broken document too.
/// </summary>
public sealed class SbomCommandTests
{
    private const string HostStatus = "/var/lib/dpkg/status";

    [Fact]
    public void Every_installed_dpkg_package_is_listed_with_dpkg_querys_exact_version_and_architecture_from_an_ext4_image()
    {
        using var work = new TempDirectory("imagetools-sbom-");
        var tree = DebianTree(work);
        var image = ExtImages.Make(work.File("root.ext4"), "ext4", 4096, tree, "64M");
        var expected = DpkgQuery(Path.Combine(tree, "var/lib/dpkg"));
        expected.Should().HaveCountGreaterThan(50, "the machine's own dpkg database is the reference");

        var r = Cli.FsMaker("sbom", image);

        r.ExitCode.Should().Be(0, r.ToString());
        var bom = JsonNode.Parse(r.StdOut)!;
        Packages(bom).Should().BeEquivalentTo(expected);
        bom["metadata"]!["component"]!["hashes"]![0]!["content"]!.GetValue<string>().Should().Be(FileFacts.Sha256(image));
        bom["metadata"]!["component"]!["type"]!.GetValue<string>().Should().Be("operating-system");
        // Licenses from the machine-readable copyright files that were copied in.
        var bash = bom["components"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "bash")!;
        var bashLicenses = bash["licenses"]!.AsArray().Select(l => l!["license"]!["name"]!.GetValue<string>()).ToList();
        bashLicenses.Should().NotBeEmpty().And.BeSubsetOf(CopyrightLicenseLines("/usr/share/doc/bash/copyright"));
        var osRelease = File.ReadAllLines("/etc/os-release").ToDictionary(l => l.Split('=')[0], l => l.Split('=', 2).ElementAtOrDefault(1)?.Trim('"') ?? "");
        var distro = osRelease["ID"] + "-" + osRelease["VERSION_ID"];
        var (bashVersion, bashArch) = expected.Single(p => p.Name == "bash") is var b ? (b.Version, b.Arch) : default;
        bash["purl"]!.GetValue<string>().Should().Be($"pkg:deb/{osRelease["ID"]}/bash@{bashVersion.Replace(":", "%3A", StringComparison.Ordinal)}?arch={bashArch}&distro={distro}");
        // The kernel in /boot, with its own hash.
        var kernel = bom["components"]!.AsArray().Single(c => c!["type"]!.GetValue<string>() == "file")!;
        kernel["name"]!.GetValue<string>().Should().Be("/boot/vmlinuz-6.1.0-99-amd64");
        kernel["version"]!.GetValue<string>().Should().Be("6.1.0-99-amd64");
        kernel["hashes"]![0]!["content"]!.GetValue<string>().Should().Be(FileFacts.Sha256(Path.Combine(tree, "boot/vmlinuz-6.1.0-99-amd64")));
    }

    [Fact]
    public void A_disk_partition_a_tar_archive_and_a_directory_give_the_same_packages()
    {
        using var work = new TempDirectory("imagetools-sbom-forms-");
        var tree = DebianTree(work);
        var expected = DpkgQuery(Path.Combine(tree, "var/lib/dpkg"));
        var image = ExtImages.Make(work.File("root.ext4"), "ext4", 4096, tree, "64M");
        var disk = work.File("disk.img");
        var script = $"truncate -s 80M '{disk}' && printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q '{disk}' && dd if='{image}' of='{disk}' bs=1M seek=1 conv=notrunc status=none";
        ProcessRunner.Shell(script).ExitCode.Should().Be(0);
        var tar = work.File("root.tar.gz");
        ProcessRunner.Shell($"tar -C '{tree}' -czf '{tar}' .").ExitCode.Should().Be(0);

        foreach (var input in new[] { disk + ":1", tar, tree })
        {
            var r = Cli.FsMaker("sbom", input);
            r.ExitCode.Should().Be(0, r.ToString());
            Packages(JsonNode.Parse(r.StdOut)!).Should().BeEquivalentTo(expected, input);
        }
    }

    [Fact]
    public void The_CycloneDX_output_is_valid_against_the_1_5_schema_and_a_broken_document_is_not()
    {
        var schema = CycloneDxSchema();
        using var work = new TempDirectory("imagetools-sbom-schema-");
        var tree = DebianTree(work);
        var output = work.File("bom.json");

        var r = Cli.FsMaker("sbom", tree, "-o", output);

        r.ExitCode.Should().Be(0, r.ToString());
        var document = JsonNode.Parse(File.ReadAllText(output))!;
        var result = schema.Evaluate(Element(document), new EvaluationOptions { OutputFormat = OutputFormat.List });
        result.IsValid.Should().BeTrue(Errors(result));

        // The check can fail: the same document with a component type CycloneDX does not have.
        document["components"]![0]!["type"] = "bogus-type";
        schema.Evaluate(Element(document), new EvaluationOptions { OutputFormat = OutputFormat.List }).IsValid.Should().BeFalse();
        var noFormat = JsonNode.Parse(File.ReadAllText(output))!.AsObject();
        noFormat.Remove("bomFormat");
        schema.Evaluate(Element(noFormat), new EvaluationOptions { OutputFormat = OutputFormat.List }).IsValid.Should().BeFalse();
    }

    [Fact]
    public void SPDX_output_lists_the_same_packages_with_purls_and_the_image_checksum()
    {
        using var work = new TempDirectory("imagetools-sbom-spdx-");
        var tree = DebianTree(work);
        var image = ExtImages.Make(work.File("root.ext4"), "ext4", 4096, tree, "64M");
        var expected = DpkgQuery(Path.Combine(tree, "var/lib/dpkg"));

        var r = Cli.FsMaker("sbom", "--format", "spdx", image);

        r.ExitCode.Should().Be(0, r.ToString());
        var doc = JsonNode.Parse(r.StdOut)!;
        doc["spdxVersion"]!.GetValue<string>().Should().Be("SPDX-2.3");
        var packages = doc["packages"]!.AsArray();
        var root = packages.Single(p => p!["SPDXID"]!.GetValue<string>() == "SPDXRef-image")!;
        root["checksums"]![0]!["checksumValue"]!.GetValue<string>().Should().Be(FileFacts.Sha256(image));
        var debs = packages.Where(p => p!["externalRefs"] != null).Select(p => p!).ToList();
        debs.Select(p => (p["name"]!.GetValue<string>(), p["versionInfo"]!.GetValue<string>())).Should()
            .BeEquivalentTo(expected.Select(e => (e.Name, e.Version)));
        var ids = packages.Select(p => p!["SPDXID"]!.GetValue<string>()).ToList();
        ids.Should().OnlyHaveUniqueItems();
        doc["relationships"]!.AsArray().Count(x => x!["relationshipType"]!.GetValue<string>() == "CONTAINS").Should().Be(ids.Count - 1);
    }

    [Fact]
    public void An_alpine_apk_database_is_read_with_name_version_arch_license_and_apk_purls()
    {
        var fixture = Path.Combine(TestPaths.RepoRoot, "tests/fixtures/sbom/alpine");
        var expected = ApkParagraphs(File.ReadAllText(Path.Combine(fixture, "lib/apk/db/installed")));
        expected.Should().HaveCount(4);

        var r = Cli.FsMaker("sbom", fixture);

        r.ExitCode.Should().Be(0, r.ToString());
        var components = JsonNode.Parse(r.StdOut)!["components"]!.AsArray();
        components.Select(c => (c!["name"]!.GetValue<string>(), c["version"]!.GetValue<string>(), Arch(c), c["licenses"]![0]!["license"]!["name"]!.GetValue<string>()))
            .Should().BeEquivalentTo(expected);
        components.Select(c => c!["purl"]!.GetValue<string>()).Should().Contain("pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=alpine-3.20.3");
    }

    [Fact]
    public void An_rpm_database_is_refused_clearly_and_no_output_file_is_left()
    {
        using var work = new TempDirectory("imagetools-sbom-rpm-");
        var tree = DebianTree(work);
        Directory.CreateDirectory(Path.Combine(tree, "var/lib/rpm"));
        File.WriteAllBytes(Path.Combine(tree, "var/lib/rpm/rpmdb.sqlite"), [0x53, 0x51, 0x4c]);
        var output = work.File("bom.json");

        var r = Cli.FsMaker("sbom", tree, "-o", output);

        r.ExitCode.Should().Be(5, r.ToString());
        r.StdErr.Should().Contain("/var/lib/rpm/rpmdb.sqlite").And.Contain("cannot read yet");
        Directory.GetFiles(work.Path).Should().BeEmpty("neither bom.json nor a temporary file is left");
    }

    [Fact]
    public void A_root_without_a_package_database_gives_a_warning_and_only_the_root_component()
    {
        using var work = new TempDirectory("imagetools-sbom-empty-");
        var tree = Directory.CreateDirectory(work.File("empty")).FullName;

        var r = Cli.FsMaker("sbom", tree);

        r.ExitCode.Should().Be(0, r.ToString());
        r.StdErr.Should().Contain("no package database found");
        JsonNode.Parse(r.StdOut)!["components"]!.AsArray().Should().BeEmpty();
    }

    /// <summary>A root tree with this machine's dpkg status, os-release, two copyright files and a kernel.</summary>
    private static string DebianTree(TempDirectory work)
    {
        if (!File.Exists(HostStatus) || ExternalTools.Find("dpkg-query") == null)
        {
            Assert.Skip("needs a Debian machine: /var/lib/dpkg/status and dpkg-query are the reference");
        }
        var tree = Directory.CreateDirectory(work.File("root")).FullName;
        Directory.CreateDirectory(Path.Combine(tree, "var/lib/dpkg"));
        File.Copy(HostStatus, Path.Combine(tree, "var/lib/dpkg/status"));
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        File.Copy("/etc/os-release", Path.Combine(tree, "etc/os-release"));
        foreach (var package in new[] { "bash", "coreutils" })
        {
            Directory.CreateDirectory(Path.Combine(tree, "usr/share/doc", package));
            File.Copy($"/usr/share/doc/{package}/copyright", Path.Combine(tree, "usr/share/doc", package, "copyright"));
        }
        Directory.CreateDirectory(Path.Combine(tree, "boot"));
        File.WriteAllBytes(Path.Combine(tree, "boot/vmlinuz-6.1.0-99-amd64"), System.Text.Encoding.ASCII.GetBytes("not really a kernel " + Guid.NewGuid()));
        File.CreateSymbolicLink(Path.Combine(tree, "vmlinuz"), "boot/vmlinuz-6.1.0-99-amd64");
        return tree;
    }

    private sealed record Package(string Name, string Version, string Arch);

    private static List<Package> DpkgQuery(string admindir)
    {
        var r = ProcessRunner.Run(ExternalTools.Require("dpkg-query"), "--admindir=" + admindir, "-W", "-f", "${db:Status-Status} ${Package} ${Version} ${Architecture}\n");
        r.ExitCode.Should().Be(0, r.ToString());
        return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' '))
            .Where(f => f[0] == "installed")
            .Select(f => new Package(f[1], f[2], f[3]))
            .ToList();
    }

    private static List<Package> Packages(JsonNode bom) =>
        bom["components"]!.AsArray().Where(c => c!["purl"] != null)
            .Select(c => new Package(c!["name"]!.GetValue<string>(), c["version"]!.GetValue<string>(), Arch(c)!)).ToList();

    private static string? Arch(JsonNode? component) =>
        component!["properties"]?.AsArray().FirstOrDefault(p => p!["name"]!.GetValue<string>() == "imagetools:architecture")?["value"]!.GetValue<string>();

    private static HashSet<string> CopyrightLicenseLines(string path) =>
        File.ReadAllLines(path).Where(l => l.StartsWith("License:", StringComparison.Ordinal)).Select(l => l["License:".Length..].Trim()).ToHashSet();

    private static List<(string, string, string?, string)> ApkParagraphs(string text) =>
        text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('\n').Where(l => l.Length > 2 && l[1] == ':').ToLookup(l => l[0], l => l[2..]))
            .Where(f => f['P'].Any())
            .Select(f => (f['P'].Single(), f['V'].Single(), (string?)f['A'].Single(), f['L'].Single()))
            .ToList();

    private static JsonSchema CycloneDxSchema()
    {
        var dir = Path.Combine(TestPaths.FixtureCache, "schemas", "cyclonedx");
        var bom = Path.Combine(dir, "bom-1.5.SNAPSHOT.schema.json");
        if (!File.Exists(bom))
        {
            Assert.Skip($"{bom} is missing; run scripts/fetch-schemas.sh (scripts/test.sh does; it needs npm)");
        }
        // The npm package names its neighbours *.SNAPSHOT.schema.json in $ref; they are registered under the $id they
        // declare, so the references are pointed there.
        var spdx = JsonSchema.FromText(File.ReadAllText(Path.Combine(dir, "spdx.SNAPSHOT.schema.json")));
        var jsf = JsonSchema.FromText(File.ReadAllText(Path.Combine(dir, "jsf-0.82.SNAPSHOT.schema.json")));
        SchemaRegistry.Global.Register(spdx);
        SchemaRegistry.Global.Register(jsf);
        var text = File.ReadAllText(bom)
            .Replace("spdx.SNAPSHOT.schema.json", "spdx.schema.json", StringComparison.Ordinal)
            .Replace("jsf-0.82.SNAPSHOT.schema.json", "jsf-0.82.schema.json", StringComparison.Ordinal);
        return JsonSchema.FromText(text);
    }

    private static JsonElement Element(JsonNode node) => JsonDocument.Parse(node.ToJsonString()).RootElement;

    private static string Errors(EvaluationResults result) =>
        string.Join("\n", (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}")).Take(20));
}
