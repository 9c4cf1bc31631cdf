using System.Buffers.Binary;

namespace ImageTools.Core.Boot;

/// <summary>
/// One entry of an ELF32 section header table (System V ABI, "Sections", Elf32_Shdr): where a section
/// is in the file and where it goes in memory.
/// </summary>
public readonly record struct Elf32SectionHeader(
    uint NameOffset,
    uint Type,
    uint Flags,
    uint Address,
    uint FileOffset,
    uint SectionSize,
    uint Link,
    uint Info,
    uint AddressAlignment,
    uint EntrySize)
{
    /// <summary>Elf32_Shdr is 40 bytes.</summary>
    public const int Size = 40;

    private const int NameOffsetOffset = 0;
    private const int TypeOffset = NameOffsetOffset + 4;
    private const int FlagsOffset = TypeOffset + 4;
    private const int AddressOffset = FlagsOffset + 4;
    private const int FileOffsetOffset = AddressOffset + 4;
    private const int SectionSizeOffset = FileOffsetOffset + 4;
    private const int LinkOffset = SectionSizeOffset + 4;
    private const int InfoOffset = LinkOffset + 4;
    private const int AddressAlignmentOffset = InfoOffset + 4;
    private const int EntrySizeOffset = AddressAlignmentOffset + 4;

    /// <summary>SHT_PROGBITS: bytes stored in the file.</summary>
    public const uint TypeProgramBits = 1;

    /// <summary>SHT_NOBITS: occupies memory, nothing in the file (.bss).</summary>
    public const uint TypeNoBits = 8;

    /// <summary>SHF_ALLOC: the section occupies memory at run time.</summary>
    public const uint FlagAlloc = 0x2;

    public bool IsAllocated => (Flags & FlagAlloc) != 0;

    /// <summary>True for sections whose file bytes become memory: PROGBITS with ALLOC.</summary>
    public bool IsLoadedFromFile => Type == TypeProgramBits && IsAllocated;

    public static Elf32SectionHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"ELF section header: {source.Length} bytes left, an entry needs {Size}");
        }
        var header = new Elf32SectionHeader(
            NameOffset: BinaryPrimitives.ReadUInt32LittleEndian(source[NameOffsetOffset..]),
            Type: BinaryPrimitives.ReadUInt32LittleEndian(source[TypeOffset..]),
            Flags: BinaryPrimitives.ReadUInt32LittleEndian(source[FlagsOffset..]),
            Address: BinaryPrimitives.ReadUInt32LittleEndian(source[AddressOffset..]),
            FileOffset: BinaryPrimitives.ReadUInt32LittleEndian(source[FileOffsetOffset..]),
            SectionSize: BinaryPrimitives.ReadUInt32LittleEndian(source[SectionSizeOffset..]),
            Link: BinaryPrimitives.ReadUInt32LittleEndian(source[LinkOffset..]),
            Info: BinaryPrimitives.ReadUInt32LittleEndian(source[InfoOffset..]),
            AddressAlignment: BinaryPrimitives.ReadUInt32LittleEndian(source[AddressAlignmentOffset..]),
            EntrySize: BinaryPrimitives.ReadUInt32LittleEndian(source[EntrySizeOffset..]));
        header.Validate();
        return header;
    }

    public void Write(Span<byte> destination)
    {
        Validate();
        if (destination.Length < Size)
        {
            throw new ArgumentException($"an ELF section header needs {Size} bytes, the buffer has {destination.Length}", nameof(destination));
        }
        BinaryPrimitives.WriteUInt32LittleEndian(destination[NameOffsetOffset..], NameOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[TypeOffset..], Type);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[FlagsOffset..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[AddressOffset..], Address);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[FileOffsetOffset..], FileOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[SectionSizeOffset..], SectionSize);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[LinkOffset..], Link);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[InfoOffset..], Info);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[AddressAlignmentOffset..], AddressAlignment);
        BinaryPrimitives.WriteUInt32LittleEndian(destination[EntrySizeOffset..], EntrySize);
    }

    /// <summary>
    /// sh_addralign is 0 or a power of two and an allocated section's address honours it; a section's
    /// memory range must not wrap past 4 GiB.
    /// </summary>
    private void Validate()
    {
        if (AddressAlignment > 1 && (AddressAlignment & (AddressAlignment - 1)) != 0)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"ELF section header: sh_addralign {AddressAlignment} is not a power of two");
        }
        if (IsAllocated && AddressAlignment > 1 && Address % AddressAlignment != 0)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"ELF section header: sh_addr 0x{Address:X} is not aligned to sh_addralign {AddressAlignment}");
        }
        if (IsAllocated && (ulong)Address + SectionSize > uint.MaxValue + 1UL)
        {
            throw new ImageToolsException(ErrorKind.CorruptImage, $"ELF section header: sh_addr 0x{Address:X} + sh_size 0x{SectionSize:X} passes 4 GiB");
        }
    }
}
