using ImageTools.Core.Boot;
using ImageTools.Core.Ext.Writer;

namespace ImageTools.Core.Imaging;

/// <summary>
/// What <see cref="BootableDiskBuilder"/> makes: <c>fsmaker [options] ROOTIMAGE OUTPUTIMAGE</c> as data.
/// Everything optional has the default fsmaker documents (docs/fsmaker.md, "build").
/// </summary>
public sealed record BootableDiskOptions
{
    /// <summary>ROOTIMAGE: an ext2/3/4 image (possibly compressed), a directory, or a tar archive.</summary>
    public required string RootPath { get; init; }

    /// <summary>OUTPUTIMAGE: the disk image file to write (replaced atomically when complete).</summary>
    public required string OutputPath { get; init; }

    /// <summary>GRUB's i386-pc platform directory (see <see cref="GrubPlatformDirectory.Choose"/>).</summary>
    public required string GrubDirectory { get; init; }

    /// <summary>Where <see cref="GrubDirectory"/> came from, for messages ("given with --grub-dir").</summary>
    public string GrubDirectoryOrigin { get; init; } = "given";

    /// <summary>Which module files go to the boot partition.</summary>
    public GrubModuleSet GrubModules { get; init; } = GrubModuleSet.All;

    /// <summary><c>-k</c>: a kernel to put on the boot partition and boot by default.</summary>
    public string? KernelPath { get; init; }

    /// <summary><c>-i</c>: its initrd (only with <see cref="KernelPath"/>).</summary>
    public string? InitrdPath { get; init; }

    /// <summary><c>--no-kernel</c>: no kernel anywhere is fine; GRUB is installed with an empty menu.</summary>
    public bool NoKernel { get; init; }

    /// <summary><c>-s</c>: the total disk size; null: just large enough, rounded up to a MiB.</summary>
    public long? DiskSizeBytes { get; init; }

    /// <summary>For a directory or tar root: ext2, ext3 or ext4 (null: ext4, as <c>fsmaker mkfs</c>).</summary>
    public ExtFilesystemType? RootFilesystemType { get; init; }

    /// <summary>For a directory or tar root: the volume label.</summary>
    public string? RootLabel { get; init; }

    /// <summary>For a directory or tar root: the filesystem UUID (default: random, or derived from the input under SOURCE_DATE_EPOCH).</summary>
    public Guid? RootUuid { get; init; }

    /// <summary>For a directory or tar root: every file owned by this uid:gid (null keeps the source's owners).</summary>
    public (uint Uid, uint Gid)? RootOwner { get; init; }

    /// <summary>
    /// SOURCE_DATE_EPOCH: timestamps clamped to it, and every identifier the build would draw at random (root and
    /// boot filesystem UUIDs, directory hash seeds, the disk signature) derived from the input instead, so that two
    /// builds over the same input give identical bytes.
    /// </summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary><c>--root-device</c>: what <c>root=</c> names instead of <c>UUID=&lt;root filesystem UUID&gt;</c>.</summary>
    public string? RootDevice { get; init; }

    /// <summary><c>--cmdline</c>: appended to the kernel command line.</summary>
    public string? ExtraCommandLine { get; init; }

    /// <summary>Add <c>console=tty0 console=ttyS0,115200</c> to the kernel command line (default).</summary>
    public bool DefaultConsoles { get; init; } = true;

    /// <summary>Seconds GRUB's menu waits.</summary>
    public int MenuTimeoutSeconds { get; init; } = 1;

    /// <summary>
    /// Steps run on the root filesystem once it is in the disk (fsmaker's <c>--scrub</c> and <c>--first-boot</c>
    /// plug in here), in order, before its kernels are looked for and GRUB is installed. They change the copy in
    /// the disk, never the user's ROOTIMAGE.
    /// </summary>
    public IReadOnlyList<IRootFilesystemStep> RootSteps { get; init; } = [];
}

/// <summary>
/// A post-processing step on the root filesystem inside the new disk: the extension point for the hygiene
/// work (scrub, first-boot payload). It gets the root partition as a read-write stream and may change the
/// filesystem in place; it must leave a consistent filesystem (e2fsck is the judge in the tests).
/// </summary>
public interface IRootFilesystemStep
{
    /// <summary>What the step does, for progress and the summary: "scrubbing machine identity".</summary>
    string Description { get; }

    /// <summary>Runs the step; returns lines for the summary (what it changed).</summary>
    IReadOnlyList<string> Run(RootFilesystemContext context);
}

/// <summary>What a <see cref="IRootFilesystemStep"/> works on.</summary>
public sealed record RootFilesystemContext
{
    /// <summary>The root partition of the disk being built, readable, writable and seekable; position 0 is its first byte.</summary>
    public required Stream Partition { get; init; }

    /// <summary>How to name it in messages: "disk.img partition 1".</summary>
    public required string Name { get; init; }

    /// <summary>
    /// The disk being built (a temporary file beside OUTPUTIMAGE, open for reading and writing), for steps that
    /// work with positional I/O rather than a stream; the partition starts at <see cref="PartitionOffset"/>.
    /// Do not close it. Nothing needs a redo log here: the whole disk is discarded if the build fails.
    /// </summary>
    public required Microsoft.Win32.SafeHandles.SafeFileHandle Disk { get; init; }

    /// <summary>Where the root partition starts on <see cref="Disk"/>, in bytes.</summary>
    public required long PartitionOffset { get; init; }

    /// <summary>The filesystem's size in bytes (the partition may be larger).</summary>
    public required long FilesystemBytes { get; init; }

    /// <summary>SOURCE_DATE_EPOCH, when reproducible output is asked for: use it instead of the current time, and derive instead of drawing random values.</summary>
    public long? SourceDateEpoch { get; init; }

    public CancellationToken Cancellation { get; init; }
}
