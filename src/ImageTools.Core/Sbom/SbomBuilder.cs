using System.Security.Cryptography;
using ImageTools.Core.Imaging;

namespace ImageTools.Core.Sbom;

/// <summary>A kernel found in /boot: its file name, the release its name says, and its SHA-256.</summary>
public sealed record KernelFile(string Name, string Release, string Sha256);

/// <summary>What a root filesystem holds, as an SBOM says it: the subject (the image) and its components.</summary>
public sealed record SbomInventory
{
    /// <summary>The image, directory or archive as the user named it.</summary>
    public required string Subject { get; init; }

    /// <summary>"disk image partition 1", "ext4 image", "directory", "tar archive".</summary>
    public required string SubjectKind { get; init; }

    /// <summary>SHA-256 of the image or archive file (null for a directory).</summary>
    public string? Sha256 { get; init; }

    public OsRelease? Os { get; init; }

    /// <summary>Which databases were read: "dpkg (/var/lib/dpkg/status)".</summary>
    public required IReadOnlyList<string> Sources { get; init; }

    public required IReadOnlyList<InstalledPackage> Packages { get; init; }

    public required IReadOnlyList<KernelFile> Kernels { get; init; }
}

/// <summary>
/// Reads what is installed in a root filesystem, offline (no mount, no chroot, no package manager): the dpkg
/// and apk databases, /etc/os-release and the kernels in /boot, from an ext image (IMAGE[:N], through the ext
/// reader), a directory or a tar archive.
/// </summary>
public static class SbomBuilder
{
    public const string RpmSqlitePath = "/var/lib/rpm/rpmdb.sqlite";

    public static SbomInventory Build(string specification, CancellationToken cancellationToken = default)
    {
        if (Directory.Exists(specification))
        {
            return Inventory(new DirectoryRootFiles(specification), specification, "directory", null);
        }
        OpenedExtImage? opened = null;
        try
        {
            try
            {
                opened = ExtImageOpener.Open(specification, new Ext.Reader.ExtOpenOptions(), cancellationToken);
            }
            catch (ImageToolsException e) when (e.Kind == ErrorKind.WrongInputKind && File.Exists(specification)
                && RootFilesystemInput.Identify(specification).Kind == RootInputKind.TarArchive)
            {
                var tar = new TarRootFiles(specification, Wanted, cancellationToken);
                return Inventory(tar, specification, "tar archive", Sha256Of(specification, cancellationToken));
            }
            var (path, _) = ExtImageOpener.ParseSpecification(specification);
            return Inventory(new ExtRootFiles(opened.FileSystem), specification, opened.Description, Sha256Of(path, cancellationToken));
        }
        finally
        {
            opened?.Dispose();
        }
    }

    /// <summary>The tar members an inventory can use.</summary>
    private static bool Wanted(string path) =>
        path is DpkgDatabase.StatusPath or ApkDatabase.InstalledPath or RpmSqlitePath or "/etc/os-release" or "/usr/lib/os-release"
        || (path.StartsWith("/usr/share/doc/", StringComparison.Ordinal) && path.EndsWith("/copyright", StringComparison.Ordinal) && path.Count(c => c == '/') == 5)
        || (path.StartsWith("/boot/vmlinu", StringComparison.Ordinal) && path.Count(c => c == '/') == 2);

    public static SbomInventory Inventory(IRootFiles root, string subject, string kind, string? sha256)
    {
        var os = OsRelease.Parse(root.Read("/etc/os-release") ?? root.Read("/usr/lib/os-release"));
        var packages = new List<InstalledPackage>();
        var sources = new List<string>();
        if (root.Read(DpkgDatabase.StatusPath) is { } status)
        {
            packages.AddRange(DpkgDatabase.Read(root, os, status));
            sources.Add($"dpkg ({DpkgDatabase.StatusPath})");
        }
        if (root.Read(ApkDatabase.InstalledPath) is { } installed)
        {
            packages.AddRange(ApkDatabase.Read(os, installed));
            sources.Add($"apk ({ApkDatabase.InstalledPath})");
        }
        if (root.ListFiles("/var/lib/rpm").Contains("rpmdb.sqlite"))
        {
            // Reading it needs an SQLite engine and an rpm header parser; a partial SBOM that silently leaves out every
            // rpm package would be worse than none.
            throw new ImageToolsException(ErrorKind.UnsupportedFeature,
                $"{subject}: holds an rpm database ({RpmSqlitePath}), which fsmaker sbom cannot read yet; use syft or 'rpm -qa --root' for rpm-based images");
        }
        var kernels = new List<KernelFile>();
        foreach (var name in root.ListFiles("/boot"))
        {
            if (!name.StartsWith("vmlinuz-", StringComparison.Ordinal) && !name.StartsWith("vmlinux-", StringComparison.Ordinal))
            {
                continue;
            }
            if (root.Read("/boot/" + name) is { } kernel)
            {
                kernels.Add(new KernelFile(name, name[8..], Convert.ToHexStringLower(SHA256.HashData(kernel))));
            }
        }
        return new SbomInventory
        {
            Subject = subject,
            SubjectKind = kind,
            Sha256 = sha256,
            Os = os,
            Sources = sources,
            Packages = packages,
            Kernels = kernels,
        };
    }

    private static string Sha256Of(string path, CancellationToken cancellationToken)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20, FileOptions.SequentialScan);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            hash.AppendData(buffer, 0, n);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
