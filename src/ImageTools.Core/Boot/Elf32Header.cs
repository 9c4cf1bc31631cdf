using System.Buffers.Binary;

namespace ImageTools.Core.Boot;

/// <summary>
/// The ELF file header of a 32-bit little-endian object (System V ABI, "ELF Header", Elf32_Ehdr),
/// as GRUB's kernel.img for i386-pc is built. Only what locating the section headers needs is kept.
/// </summary>
public readonly record struct Elf32Header(
    ushort Type,
    ushort Machine,
    uint Version,
    uint Entry,
    uint ProgramHeaderOffset,
    uint SectionHeaderOffset,
    uint Flags,
    ushort HeaderSize,
    ushort ProgramHeaderEntrySize,
    ushort ProgramHeaderCount,
    ushort SectionHeaderEntrySize,
    ushort SectionHeaderCount,
    ushort SectionNameTableIndex)
{
    /// <summary>Elf32_Ehdr is 52 bytes.</summary>
    public const int Size = 52;

    // e_ident: magic, class, data encoding, version; then the fields of Elf32_Ehdr.
    private const int IdentMagicOffset = 0;
    private const int IdentClassOffset = 4;
    private const int IdentDataOffset = 5;
    private const int IdentVersionOffset = 6;
    private const int IdentSize = 16;
    private const int TypeOffset = IdentSize;
    private const int MachineOffset = TypeOffset + 2;
    private const int VersionOffset = MachineOffset + 2;
    private const int EntryOffset = VersionOffset + 4;
    private const int ProgramHeaderOffsetOffset = EntryOffset + 4;
    private const int SectionHeaderOffsetOffset = ProgramHeaderOffsetOffset + 4;
    private const int FlagsOffset = SectionHeaderOffsetOffset + 4;
    private const int HeaderSizeOffset = FlagsOffset + 4;
    private const int ProgramHeaderEntrySizeOffset = HeaderSizeOffset + 2;
    private const int ProgramHeaderCountOffset = ProgramHeaderEntrySizeOffset + 2;
    private const int SectionHeaderEntrySizeOffset = ProgramHeaderCountOffset + 2;
    private const int SectionHeaderCountOffset = SectionHeaderEntrySizeOffset + 2;
    private const int SectionNameTableIndexOffset = SectionHeaderCountOffset + 2;

    private static ReadOnlySpan<byte> Magic => [0x7F, (byte)'E', (byte)'L', (byte)'F'];

    /// <summary>ELFCLASS32.</summary>
    public const byte Class32 = 1;

    /// <summary>ELFDATA2LSB: little-endian.</summary>
    public const byte DataLittleEndian = 1;

    /// <summary>EV_CURRENT, in e_ident and in e_version.</summary>
    public const byte CurrentVersion = 1;

    /// <summary>ET_EXEC: an executable (kernel.img is linked at a fixed address).</summary>
    public const ushort TypeExecutable = 2;

    /// <summary>EM_386: Intel 80386.</summary>
    public const ushort Machine386 = 3;

    /// <summary>Reads and checks the header at the start of <paramref name="source"/>.</summary>
    public static Elf32Header Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw Corrupt($"the file is {source.Length} bytes, shorter than an ELF header ({Size} bytes)");
        }
        if (!source[..Magic.Length].SequenceEqual(Magic))
        {
            throw Corrupt($"no ELF magic at offset 0 (found {Convert.ToHexString(source[..Magic.Length])})");
        }
        if (source[IdentClassOffset] != Class32)
        {
            throw Corrupt($"EI_CLASS (offset {IdentClassOffset}) is {source[IdentClassOffset]}, not 1 (32-bit)");
        }
        if (source[IdentDataOffset] != DataLittleEndian)
        {
            throw Corrupt($"EI_DATA (offset {IdentDataOffset}) is {source[IdentDataOffset]}, not 1 (little-endian)");
        }
        if (source[IdentVersionOffset] != CurrentVersion)
        {
            throw Corrupt($"EI_VERSION (offset {IdentVersionOffset}) is {source[IdentVersionOffset]}, not 1");
        }
        var header = new Elf32Header(
            Type: BinaryPrimitives.ReadUInt16LittleEndian(source[TypeOffset..]),
            Machine: BinaryPrimitives.ReadUInt16LittleEndian(source[MachineOffset..]),
            Version: BinaryPrimitives.ReadUInt32LittleEndian(source[VersionOffset..]),
            Entry: BinaryPrimitives.ReadUInt32LittleEndian(source[EntryOffset..]),
            ProgramHeaderOffset: BinaryPrimitives.ReadUInt32LittleEndian(source[ProgramHeaderOffsetOffset..]),
            SectionHeaderOffset: BinaryPrimitives.ReadUInt32LittleEndian(source[SectionHeaderOffsetOffset..]),
            Flags: BinaryPrimitives.ReadUInt32LittleEndian(source[FlagsOffset..]),
            HeaderSize: BinaryPrimitives.ReadUInt16LittleEndian(source[HeaderSizeOffset..]),
            ProgramHeaderEntrySize: BinaryPrimitives.ReadUInt16LittleEndian(source[ProgramHeaderEntrySizeOffset..]),
            ProgramHeaderCount: BinaryPrimitives.ReadUInt16LittleEndian(source[ProgramHeaderCountOffset..]),
            SectionHeaderEntrySize: BinaryPrimitives.ReadUInt16LittleEndian(source[SectionHeaderEntrySizeOffset..]),
            SectionHeaderCount: BinaryPrimitives.ReadUInt16LittleEndian(source[SectionHeaderCountOffset..]),
            SectionNameTableIndex: BinaryPrimitives.ReadUInt16LittleEndian(source[SectionNameTableIndexOffset..]));
        header.Validate();
        return header;
    }

    /// <summary>Writes the header (identification bytes included) to the start of <paramref name="destination"/>.</summary>
    public void Write(Span<byte> destination)
    {
        Validate();
        if (destination.Length < Size)
        {
            throw new ArgumentException($"an ELF header needs {Size} bytes, the buffer has {destination.Length}", nameof(destination));
        }
        destination[..IdentSize].Clear();
        Magic.CopyTo(destination[IdentMagicOffset..]);
        destination[IdentClassOffset] = Class32;
        destination[IdentDataOffset] = DataLittleEndian;
        destination[IdentVersionOffset] = CurrentVersion;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[TypeOffset..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[MachineOffset..], Machine);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[VersionOffset..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[EntryOffset..], Entry);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[ProgramHeaderOffsetOffset..], ProgramHeaderOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[SectionHeaderOffsetOffset..], SectionHeaderOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[FlagsOffset..], Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[HeaderSizeOffset..], HeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[ProgramHeaderEntrySizeOffset..], ProgramHeaderEntrySize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[ProgramHeaderCountOffset..], ProgramHeaderCount);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[SectionHeaderEntrySizeOffset..], SectionHeaderEntrySize);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[SectionHeaderCountOffset..], SectionHeaderCount);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[SectionNameTableIndexOffset..], SectionNameTableIndex);
    }

    /// <summary>
    /// The rules a reader relies on: the section header table entries must be Elf32_Shdr-sized and the
    /// name table index must name one of them (or be SHN_UNDEF).
    /// </summary>
    private void Validate()
    {
        if (Version != CurrentVersion)
        {
            throw Corrupt($"e_version (offset {VersionOffset}) is {Version}, not 1");
        }
        if (HeaderSize != Size)
        {
            throw Corrupt($"e_ehsize (offset {HeaderSizeOffset}) is {HeaderSize}, not {Size}");
        }
        if (SectionHeaderCount != 0 && SectionHeaderEntrySize != Elf32SectionHeader.Size)
        {
            throw Corrupt($"e_shentsize (offset {SectionHeaderEntrySizeOffset}) is {SectionHeaderEntrySize}, not {Elf32SectionHeader.Size}");
        }
        if (SectionNameTableIndex != 0 && SectionNameTableIndex >= SectionHeaderCount)
        {
            throw Corrupt($"e_shstrndx (offset {SectionNameTableIndexOffset}) is {SectionNameTableIndex} but there are only {SectionHeaderCount} sections");
        }
    }

    private static ImageToolsException Corrupt(string what) => new(ErrorKind.CorruptImage, "ELF header: " + what);
}
