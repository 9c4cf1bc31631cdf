using System.Buffers.Binary;
using System.Text;

namespace ImageTools.Core.Boot;

/// <summary>The kinds of object in GRUB's module area (include/grub/kernel.h, enum OBJ_TYPE_*).</summary>
public enum GrubModuleObjectType : uint
{
    /// <summary>An ELF module (a .mod file verbatim).</summary>
    Elf = 0,
    /// <summary>A memdisk image, padded to a multiple of 512.</summary>
    Memdisk = 1,
    /// <summary>An embedded configuration script: text + NUL.</summary>
    Config = 2,
    /// <summary>The prefix, <c>(device)path</c> + NUL: where GRUB finds its modules and grub.cfg.</summary>
    Prefix = 3,
    /// <summary>A public key for signature checking.</summary>
    PublicKey = 4,
    /// <summary>A device tree blob.</summary>
    DeviceTree = 5,
    /// <summary>Disables the shim lock verifier.</summary>
    DisableShimLock = 6,
}

/// <summary>
/// The header of the module area (struct grub_module_info32): magic "mimg", the offset of the first
/// object from the start of this header, and the size of the whole area including this header.
/// </summary>
public readonly record struct GrubModuleInfoHeader(uint ObjectsOffset, uint AreaSize)
{
    public const int Size = 12;

    /// <summary>GRUB_MODULE_MAGIC, the bytes "mimg".</summary>
    public const uint Magic = 0x676D696D;

    private const int MagicOffset = 0;
    private const int ObjectsOffsetOffset = MagicOffset + 4;
    private const int AreaSizeOffset = ObjectsOffsetOffset + 4;

    public static GrubModuleInfoHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"GRUB module info: {source.Length} bytes, the header needs {Size}");
        }
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(source[MagicOffset..]);
        if (magic != Magic)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"GRUB module info: magic 0x{magic:X8} at offset {MagicOffset}, expected 0x{Magic:X8} (\"mimg\")");
        }
        var header = new GrubModuleInfoHeader(
            BinaryPrimitives.ReadUInt32LittleEndian(source[ObjectsOffsetOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(source[AreaSizeOffset..]));
        header.Validate();
        return header;
    }

    public void Write(Span<byte> destination)
    {
        Validate();
        BinaryPrimitives.WriteUInt32LittleEndian(destination[MagicOffset..], Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[ObjectsOffsetOffset..], ObjectsOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[AreaSizeOffset..], AreaSize);
    }

    /// <summary>The objects start after this header, on a 4-byte boundary, inside the area.</summary>
    private void Validate()
    {
        if (ObjectsOffset < Size || ObjectsOffset % 4 != 0 || ObjectsOffset > AreaSize)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"GRUB module info: objects offset {ObjectsOffset} is not a 4-byte aligned offset between {Size} and the area size {AreaSize}");
        }
    }
}

/// <summary>
/// The header of one object in the module area (struct grub_module_header): its type and its size
/// including this 8-byte header. The next object starts at the size rounded up to 4.
/// </summary>
public readonly record struct GrubModuleObjectHeader(GrubModuleObjectType Type, uint ObjectSize)
{
    public const int Size = 8;

    private const int TypeOffset = 0;
    private const int ObjectSizeOffset = TypeOffset + 4;

    public static GrubModuleObjectHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"GRUB module object: {source.Length} bytes, the header needs {Size}");
        }
        var header = new GrubModuleObjectHeader(
            (GrubModuleObjectType)BinaryPrimitives.ReadUInt32LittleEndian(source[TypeOffset..]),
            BinaryPrimitives.ReadUInt32LittleEndian(source[ObjectSizeOffset..]));
        header.Validate();
        return header;
    }

    public void Write(Span<byte> destination)
    {
        Validate();
        BinaryPrimitives.WriteUInt32LittleEndian(destination[TypeOffset..], (uint)Type);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[ObjectSizeOffset..], ObjectSize);
    }

    /// <summary>The padded length this object occupies in the area (its size rounded up to 4).</summary>
    public uint PaddedSize => (ObjectSize + 3u) & ~3u;

    private void Validate()
    {
        if (!Enum.IsDefined(Type))
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"GRUB module object: unknown type {(uint)Type}");
        }
        if (ObjectSize < Size || ObjectSize > int.MaxValue - 3)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"GRUB module object: size {ObjectSize} is smaller than its own {Size}-byte header or absurdly large");
        }
    }
}

/// <summary>
/// Builds the module area that follows the kernel in the core image's payload: info header, then
/// objects in grub-mkimage's order (ELF modules, [public keys, memdisk, device tree: not used by
/// fsmaker], config, prefix; util/mkimage.c). As there, each object's data is zero-padded to 4 bytes
/// and its size field counts the padding, so objects follow each other without gaps.
/// </summary>
public sealed class GrubModuleAreaBuilder
{
    private readonly List<(string Name, byte[] Data)> _modules = [];
    private string? _config;
    private string? _prefix;

    /// <summary>Adds an ELF module (the .mod file's bytes, stored verbatim) after the ones already added.</summary>
    public GrubModuleAreaBuilder AddModule(string name, byte[] elf)
    {
        _modules.Add((name, elf));
        return this;
    }

    /// <summary>An embedded configuration script, run before the prefix's grub.cfg is looked for.</summary>
    public GrubModuleAreaBuilder SetEmbeddedConfig(string script)
    {
        if (script.Contains('\0'))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "the embedded GRUB config contains a NUL character");
        }
        _config = script;
        return this;
    }

    /// <summary>The prefix, e.g. <c>(,msdos2)/boot/grub</c> (see <see cref="GrubPrefix"/>).</summary>
    public GrubModuleAreaBuilder SetPrefix(string prefix)
    {
        if (prefix.Contains('\0'))
        {
            throw new ImageToolsException(ErrorKind.InvalidArgument, "the GRUB prefix contains a NUL character");
        }
        _prefix = prefix;
        return this;
    }

    /// <summary>The module area's bytes, ready to follow the kernel memory image.</summary>
    public byte[] Build()
    {
        var objects = new List<(GrubModuleObjectType Type, byte[] Data, int DataLength)>();
        foreach (var (_, data) in _modules)
        {
            objects.Add((GrubModuleObjectType.Elf, data, (int)Align4(data.Length)));
        }
        if (_config != null)
        {
            var text = NulTerminated(_config);
            objects.Add((GrubModuleObjectType.Config, text, (int)Align4(text.Length)));
        }
        if (_prefix != null)
        {
            var text = NulTerminated(_prefix);
            objects.Add((GrubModuleObjectType.Prefix, text, (int)Align4(text.Length)));
        }

        long total = GrubModuleInfoHeader.Size;
        foreach (var o in objects)
        {
            total += GrubModuleObjectHeader.Size + (long)o.DataLength;
        }
        if (total > I386PcLayout.MaximumCoreBytesAfterDiskBoot)
        {
            throw new ImageToolsException(ErrorKind.DoesNotFit, $"the GRUB module area would be {total} bytes, more than a core image can hold ({I386PcLayout.MaximumCoreBytesAfterDiskBoot})");
        }

        var area = new byte[total];
        new GrubModuleInfoHeader(GrubModuleInfoHeader.Size, (uint)total).Write(area);
        int offset = GrubModuleInfoHeader.Size;
        foreach (var (type, data, dataLength) in objects)
        {
            var header = new GrubModuleObjectHeader(type, (uint)(GrubModuleObjectHeader.Size + dataLength));
            header.Write(area.AsSpan(offset));
            data.CopyTo(area.AsSpan(offset + GrubModuleObjectHeader.Size));
            offset += (int)header.PaddedSize;
        }
        return area;
    }

    private static byte[] NulTerminated(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }

    private static long Align4(long value) => (value + 3) & ~3L;
}
