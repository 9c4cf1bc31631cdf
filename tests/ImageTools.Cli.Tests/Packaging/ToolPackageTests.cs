using System.IO.Compression;
using System.Xml.Linq;
using FluentAssertions;
using ImageTools.TestSupport;
using Xunit;

namespace ImageTools.Cli.Tests.Packaging;

/// <summary>
/// What <c>dotnet pack</c> makes (scripts/publish.sh pack): the two .NET tools install from the folder with
/// <c>dotnet tool install --tool-path DIR --add-source DIR</c> and run; every package carries its readme,
/// license expression and symbols, and ImageTools.Core its XML documentation.
/// </summary>
[Trait("Category", "Packaging")]
public sealed class ToolPackageTests : IDisposable
{
    private static readonly string Version = typeof(ImageTools.Core.ImageToolsException).Assembly.GetName().Version!.ToString(3);
    private readonly TempDirectory _dir = new("packages-");

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("ImageTools.SparseCopy", "sparsecopy")]
    [InlineData("ImageTools.FsMaker", "fsmaker")]
    public void A_tool_installs_from_the_pack_output_and_runs(string id, string command)
    {
        var packages = CrossBuilds.Folder("packages");
        var tools = _dir.File("tools");
        var dotnet = ExternalTools.Require("dotnet");
        // A NuGet cache of its own: the install must come from the pack output, not from an earlier install.
        var environment = new Dictionary<string, string?> { ["NUGET_PACKAGES"] = _dir.File("nuget-cache"), ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1" };
        var install = ProcessRunner.Run(dotnet, ["tool", "install", "--tool-path", tools, "--add-source", packages, "--version", Version, id],
            environment: environment, timeout: TimeSpan.FromMinutes(5));
        install.ExitCode.Should().Be(0, install.ToString());

        var version = ProcessRunner.Run(Path.Combine(tools, command), "--version");
        version.ExitCode.Should().Be(0, version.ToString());
        version.StdOut.Trim().Should().Be(Version);

        // A real job with the installed tool.
        var source = SparseFiles.Create(_dir.File("s.img"), 8 << 20, new (long, int)[] { (1 << 20, 4096) });
        var job = command == "sparsecopy"
            ? ProcessRunner.Run(Path.Combine(tools, command), source, _dir.File("copy.img"))
            : ProcessRunner.Run(Path.Combine(tools, command), "inspect", source);
        job.ExitCode.Should().Be(0, job.ToString());
        if (command == "sparsecopy")
        {
            FileFacts.Sha256(_dir.File("copy.img")).Should().Be(FileFacts.Sha256(source));
        }
    }

    [Theory]
    [InlineData("ImageTools.Core", false)]
    [InlineData("ImageTools.SparseCopy", true)]
    [InlineData("ImageTools.FsMaker", true)]
    public void Every_package_has_readme_license_and_symbols(string id, bool tool)
    {
        var packages = CrossBuilds.Folder("packages");
        var nupkg = Path.Combine(packages, $"{id}.{Version}.nupkg");
        File.Exists(nupkg).Should().BeTrue($"{nupkg} is made by dotnet pack");
        File.Exists(Path.Combine(packages, $"{id}.{Version}.snupkg")).Should().BeTrue("symbols are packed beside it");

        using var zip = ZipFile.OpenRead(nupkg);
        var nuspecEntry = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var stream = nuspecEntry.Open();
        var metadata = XDocument.Load(stream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string? Field(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value;

        Field("license").Should().Be("MIT");
        Field("readme").Should().Be("README.md");
        Field("description").Should().NotBeNullOrWhiteSpace();
        zip.GetEntry("README.md").Should().NotBeNull();
        using (var readme = new StreamReader(zip.GetEntry("README.md")!.Open()))
        {
            var text = readme.ReadToEnd();
            text.Should().Contain(tool ? "dotnet tool install" : "```csharp");
        }
        if (tool)
        {
            metadata.Elements().Single(e => e.Name.LocalName == "packageTypes").ToString().Should().Contain("DotnetTool");
        }
        else
        {
            zip.Entries.Should().Contain(e => e.FullName == "lib/net10.0/ImageTools.Core.xml", "IntelliSense needs the XML documentation");
        }
    }
}
