namespace ImageTools.Core.Containers;

/// <summary>The virtual-disk containers read and written (raw is the disk's bytes as they are).</summary>
public enum ContainerFormat
{
    Raw,
    /// <summary>QEMU copy-on-write v2/v3 (docs/interop/qcow2.txt in QEMU).</summary>
    Qcow2,
    /// <summary>Fixed VHD: the disk's bytes, then a 512-byte footer (Azure's format).</summary>
    VhdFixed,
}

/// <summary>How cluster data is compressed in a container that supports it (qcow2 compression_type, header byte 104).</summary>
public enum ClusterCompression
{
    None,
    /// <summary>Raw deflate with a 4 KiB window (qemu inflates with windowBits -12).</summary>
    Zlib,
    Zstd,
}

/// <summary>Names used on the command line, in messages and in JSON.</summary>
public static class ContainerFormats
{
    /// <summary>The formats <c>-O</c> accepts, as users type them.</summary>
    public static IReadOnlyList<string> Names { get; } = ["raw", "qcow2", "vhd"];

    public static string NameOf(ContainerFormat format) => format switch
    {
        ContainerFormat.Qcow2 => "qcow2",
        ContainerFormat.VhdFixed => "vhd",
        _ => "raw",
    };

    /// <summary>Parses an <c>-O</c> value; throws InvalidArgument listing the accepted names.</summary>
    public static ContainerFormat Parse(string text) => text.ToLowerInvariant() switch
    {
        "raw" => ContainerFormat.Raw,
        "qcow2" => ContainerFormat.Qcow2,
        "vhd" or "vpc" => ContainerFormat.VhdFixed,
        "vhd-dynamic" or "vhdx" or "vmdk" or "gce" => throw new ImageToolsException(ErrorKind.UnsupportedFeature,
            $"output format '{text}' is not written yet (this version writes {string.Join(", ", Names)}); use qemu-img convert for it meanwhile"),
        _ => throw new ImageToolsException(ErrorKind.InvalidArgument, $"output format '{text}': use one of {string.Join(", ", Names)}"),
    };

    public static string NameOf(ClusterCompression compression) => compression switch
    {
        ClusterCompression.Zlib => "zlib",
        ClusterCompression.Zstd => "zstd",
        _ => "none",
    };
}
