namespace ImageTools.Core.Boot;

/// <summary>
/// GRUB's i386-pc kernel (kernel.img, an ELF32 executable) turned into the bytes that start the
/// core image's uncompressed payload: every PROGBITS section with the ALLOC flag copied to
/// <c>sh_addr − link address</c>, gaps zero-filled, ending at the last such section (<c>_edata</c>).
/// .bss (NOBITS) is not stored: the kernel's start code clears it. Nothing inside the kernel is
/// patched for i386-pc. Everything comes from the section headers; only the platform's link address
/// (<see cref="I386PcLayout.KernelLinkAddress"/>) is checked against them.
/// </summary>
public sealed class GrubKernelImage
{
    private GrubKernelImage(uint linkAddress, byte[] memoryImage, uint bssSize)
    {
        LinkAddress = linkAddress;
        MemoryImage = memoryImage;
        BssSize = bssSize;
    }

    /// <summary>The address the kernel is linked at: the lowest address of its allocated sections.</summary>
    public uint LinkAddress { get; }

    /// <summary>The kernel's memory image from the link address to the end of its last stored section.</summary>
    public byte[] MemoryImage { get; }

    /// <summary>Bytes of memory after <see cref="MemoryImage"/> that the kernel uses but the file does not store.</summary>
    public uint BssSize { get; }

    /// <summary>Parses kernel.img; <paramref name="sourceName"/> names it in error messages.</summary>
    public static GrubKernelImage Parse(ReadOnlySpan<byte> elf, string sourceName)
    {
        Elf32Header header;
        try
        {
            header = Elf32Header.Read(elf);
        }
        catch (ImageToolsException e) when (e.Kind == ErrorKind.CorruptImage)
        {
            throw Corrupt(sourceName, e.Message);
        }
        if (header.Type != Elf32Header.TypeExecutable)
        {
            throw Corrupt(sourceName, $"ELF e_type is {header.Type}, not {Elf32Header.TypeExecutable} (executable)");
        }
        if (header.Machine != Elf32Header.Machine386)
        {
            throw Corrupt(sourceName, $"ELF e_machine is {header.Machine}, not {Elf32Header.Machine386} (i386): not an i386-pc GRUB kernel");
        }
        if (header.SectionHeaderCount == 0)
        {
            throw Corrupt(sourceName, "the ELF file has no section headers");
        }
        long tableEnd = header.SectionHeaderOffset + (long)header.SectionHeaderCount * Elf32SectionHeader.Size;
        if (tableEnd > elf.Length)
        {
            throw Corrupt(sourceName, $"the section header table (e_shoff 0x{header.SectionHeaderOffset:X}, {header.SectionHeaderCount} entries) ends at {tableEnd}, past the end of the {elf.Length}-byte file");
        }

        var stored = new List<Elf32SectionHeader>();
        var allocated = new List<(int Index, Elf32SectionHeader Section)>();
        for (int i = 0; i < header.SectionHeaderCount; i++)
        {
            Elf32SectionHeader section;
            try
            {
                section = Elf32SectionHeader.Read(elf[(int)(header.SectionHeaderOffset + i * Elf32SectionHeader.Size)..]);
            }
            catch (ImageToolsException e) when (e.Kind == ErrorKind.CorruptImage)
            {
                throw Corrupt(sourceName, $"section {i}: {e.Message}");
            }
            if (!section.IsAllocated || section.SectionSize == 0)
            {
                continue;
            }
            allocated.Add((i, section));
            if (section.IsLoadedFromFile)
            {
                if ((long)section.FileOffset + section.SectionSize > elf.Length)
                {
                    throw Corrupt(sourceName, $"section {i} (sh_offset 0x{section.FileOffset:X}, sh_size 0x{section.SectionSize:X}) runs past the end of the {elf.Length}-byte file");
                }
                stored.Add(section);
            }
        }
        if (stored.Count == 0)
        {
            throw Corrupt(sourceName, "no PROGBITS section with the ALLOC flag: nothing to load");
        }

        // Allocated sections must not overlap: two of them claiming the same bytes means a broken link.
        allocated.Sort((a, b) => a.Section.Address.CompareTo(b.Section.Address));
        for (int i = 1; i < allocated.Count; i++)
        {
            var previous = allocated[i - 1];
            var current = allocated[i];
            if ((ulong)previous.Section.Address + previous.Section.SectionSize > current.Section.Address)
            {
                throw Corrupt(sourceName, $"sections {previous.Index} and {current.Index} overlap in memory (0x{previous.Section.Address:X}+0x{previous.Section.SectionSize:X} and 0x{current.Section.Address:X})");
            }
        }

        uint linkAddress = allocated[0].Section.Address;
        if (linkAddress != I386PcLayout.KernelLinkAddress)
        {
            throw Corrupt(sourceName, $"the kernel is linked at 0x{linkAddress:X}, but the i386-pc boot chain copies it to 0x{I386PcLayout.KernelLinkAddress:X}: not an i386-pc kernel.img");
        }
        if (header.Entry != linkAddress)
        {
            throw Corrupt(sourceName, $"the ELF entry point 0x{header.Entry:X} is not the link address 0x{linkAddress:X}, where the decompressor jumps");
        }

        ulong loadedEnd = stored.Max(s => (ulong)s.Address + s.SectionSize);
        ulong memoryEnd = allocated.Max(s => (ulong)s.Section.Address + s.Section.SectionSize);
        if (memoryEnd > I386PcLayout.KernelMemoryCeiling)
        {
            throw Corrupt(sourceName, $"the kernel with its bss ends at 0x{memoryEnd:X}, above the i386-pc limit 0x{I386PcLayout.KernelMemoryCeiling:X}");
        }

        var image = new byte[loadedEnd - linkAddress];
        foreach (var section in stored)
        {
            elf.Slice((int)section.FileOffset, (int)section.SectionSize).CopyTo(image.AsSpan((int)(section.Address - linkAddress)));
        }
        return new GrubKernelImage(linkAddress, image, (uint)(memoryEnd - loadedEnd));
    }

    private static ImageToolsException Corrupt(string sourceName, string what) =>
        new(ErrorKind.CorruptImage, $"{sourceName}: {what}") { Path = sourceName };
}
