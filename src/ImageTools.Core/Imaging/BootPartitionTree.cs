using ImageTools.Core.Boot;
using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Sources;

namespace ImageTools.Core.Imaging;

/// <summary>
/// The files of the boot partition, as entries for the ext writer:
/// <code>
/// /boot/grub/grub.cfg             the menu
/// /boot/grub/i386-pc/*.mod, *.lst GRUB's modules (all, as grub-install copies them, or the minimal set)
/// /boot/vmlinuz, /boot/initrd.img the -k kernel and -i initrd, when given
/// </code>
/// Paths follow GRUB's prefix <c>(,msdos2)/boot/grub</c> and the entries GrubConfigWriter writes for a kernel on
/// the boot partition. Host files are read when the writer gets to them (never held in memory); owners are
/// root; times are the host files' (the build time for grub.cfg and the directories), clamped by the writer
/// to SOURCE_DATE_EPOCH when it is set.
/// </summary>
public sealed class BootPartitionTree
{
    /// <summary>Where the -k kernel goes on the boot partition.</summary>
    public const string KernelPath = "/boot/vmlinuz";

    /// <summary>Where the -i initrd goes on the boot partition.</summary>
    public const string InitrdPath = "/boot/initrd.img";

    /// <summary>Room for grub.cfg when the partition is sized, before its text is known (it is a few KiB).</summary>
    public const int ConfigAllowance = 64 << 10;

    private readonly IReadOnlyList<GrubBootFile> _grubFiles;
    private readonly string? _kernel;
    private readonly string? _initrd;
    private readonly ExtTimestamp _buildTime;

    /// <param name="grubFiles">The module and list files (<see cref="GrubBootFiles.Select"/>).</param>
    /// <param name="kernel">The -k kernel's path on the host, or null.</param>
    /// <param name="initrd">The -i initrd's path on the host, or null.</param>
    /// <param name="buildTime">The time given to grub.cfg and the directories.</param>
    public BootPartitionTree(IReadOnlyList<GrubBootFile> grubFiles, string? kernel, string? initrd, DateTimeOffset buildTime)
    {
        _grubFiles = grubFiles;
        _kernel = kernel;
        _initrd = initrd;
        _buildTime = ExtTimestamp.FromDateTimeOffset(buildTime) with { Nanoseconds = 0 };
    }

    /// <summary>The content bytes of the files (grub.cfg counted as <see cref="ConfigAllowance"/>).</summary>
    public long ContentBytes => _grubFiles.Sum(f => HostFile.Length(f.SourcePath)) + ConfigAllowance
        + (_kernel != null ? HostFile.Length(_kernel) : 0) + (_initrd != null ? HostFile.Length(_initrd) : 0);

    /// <summary>The entries, with <paramref name="grubConfig"/> as /boot/grub/grub.cfg.</summary>
    public IFileTreeSource Source(string grubConfig) => new EntryListSource(Entries(System.Text.Encoding.UTF8.GetBytes(grubConfig)), "the boot partition's files");

    /// <summary>The entries with a stand-in grub.cfg of <see cref="ConfigAllowance"/> bytes, for sizing the partition.</summary>
    public IFileTreeSource SizingSource() => new EntryListSource(Entries(new byte[ConfigAllowance]), "the boot partition's files");

    private List<FileEntry> Entries(byte[] grubConfig)
    {
        var grubDirectory = GrubPrefix.DefaultDirectory.TrimStart('/');
        var entries = new List<FileEntry>
        {
            Directory(""),
            Directory("boot"),
            Directory(grubDirectory),
            Directory($"{grubDirectory}/{GrubBootFiles.PlatformSubdirectory}"),
            new()
            {
                Path = $"{grubDirectory}/grub.cfg",
                Type = FileEntryType.RegularFile,
                Permissions = Convert.ToInt32("644", 8),
                ModificationTime = _buildTime,
                Content = FileContent.FromBytes(grubConfig),
            },
        };
        foreach (var file in _grubFiles.OrderBy(f => f.RelativePath, StringComparer.Ordinal))
        {
            entries.Add(HostFile.Entry($"{grubDirectory}/{file.RelativePath}", file.SourcePath));
        }
        if (_kernel != null)
        {
            entries.Add(HostFile.Entry(KernelPath.TrimStart('/'), _kernel));
        }
        if (_initrd != null)
        {
            entries.Add(HostFile.Entry(InitrdPath.TrimStart('/'), _initrd));
        }
        return entries;
    }

    private FileEntry Directory(string path) => new()
    {
        Path = path,
        Type = FileEntryType.Directory,
        Permissions = Convert.ToInt32("755", 8),
        ModificationTime = _buildTime,
    };

    /// <summary>A host file as a writer entry: root-owned, mode 0644, its own mtime, read lazily in pieces.</summary>
    private static class HostFile
    {
        public static long Length(string path)
        {
            try
            {
                return new FileInfo(Resolve(path)).Length;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{path}: cannot read it: {e.Message}", e) { Path = path };
            }
        }

        public static FileEntry Entry(string path, string hostPath)
        {
            var resolved = Resolve(hostPath);
            var info = new FileInfo(resolved);
            long length;
            DateTimeOffset modified;
            try
            {
                length = info.Length;
                modified = info.LastWriteTimeUtc;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{hostPath}: cannot read it: {e.Message}", e) { Path = hostPath };
            }
            return new FileEntry
            {
                Path = path,
                Type = FileEntryType.RegularFile,
                Permissions = Convert.ToInt32("644", 8),
                ModificationTime = ExtTimestamp.FromDateTimeOffset(modified),
                Content = length == 0 ? null : FileContent.FromRanges(length, [new DataRange(0, length)], (offset, buffer) => Fill(resolved, hostPath, offset, buffer)),
            };
        }

        /// <summary>Reads <paramref name="buffer"/>'s worth at <paramref name="offset"/>; a file that shrank since it was listed is an error.</summary>
        private static void Fill(string path, string shownPath, long offset, Span<byte> buffer)
        {
            try
            {
                using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                var done = 0;
                while (done < buffer.Length)
                {
                    var n = RandomAccess.Read(handle, buffer[done..], offset + done);
                    if (n == 0)
                    {
                        throw new ImageToolsException(ErrorKind.SourceUnreadable,
                            $"{shownPath}: the file became shorter while it was being read (it ends at {offset + done} bytes)") { Path = shownPath };
                    }
                    done += n;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ImageToolsException(ErrorKind.SourceUnreadable, $"{shownPath}: cannot read it: {e.Message}", e) { Path = shownPath };
            }
        }

        /// <summary>A symbolic link given on the command line (<c>-k /vmlinuz</c>) stands for what it points to.</summary>
        private static string Resolve(string path)
        {
            try
            {
                return File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
            }
            catch (IOException)
            {
                return path;
            }
        }
    }
}
