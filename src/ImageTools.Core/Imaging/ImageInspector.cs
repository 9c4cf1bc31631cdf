using ImageTools.Core.Ext.OnDisk;
using ImageTools.Core.Ext.Reader;
using ImageTools.Core.Imaging.Iso9660;
using ImageTools.Core.Partitions;
using ImageTools.Core.Streams;

namespace ImageTools.Core.Imaging;

/// <summary>
/// Says what an image is and what it holds, for <c>fsmaker inspect</c>: a chain of cheap probes over
/// the bytes (compression, ISO 9660 with El Torito, MBR/GPT partition tables, ext2/3/4, then known
/// signatures of formats it does not read). Every probe that matches is reported, so a hybrid ISO
/// shows both its ISO volume and its MBR. A partition's content is probed the same way. A compressed
/// image is expanded into a temporary sparse file first (bounded memory) and that is inspected.
/// Damage found on the way becomes a warning in the report where the rest can still be described.
/// </summary>
public static class ImageInspector
{
    private const int MaxNesting = 2;
    private const int MaxVolumeDescriptors = 64;
    private const int MaxBootEntries = 64;

    /// <summary>Inspects the file (or block device) at <paramref name="path"/>.</summary>
    public static ImageReport Inspect(string path, CancellationToken cancellationToken = default)
    {
        var file = ImageFile.OpenRead(path);
        using (file)
        {
            var head = ReadHead(file, 64);
            var format = Compression.Detect(head);
            if (format == CompressionFormat.None)
            {
                return new ImageReport { Path = path, SizeBytes = file.Length, Content = InspectContent(file, path, 0, cancellationToken) };
            }
            var compressedLength = file.Length;
            file.Dispose();
            using var expanded = CompressedInput.ExpandToTemporaryFile(path, format, cancellationToken);
            return new ImageReport
            {
                Path = path,
                SizeBytes = compressedLength,
                Compression = new CompressionReport(Compression.NameOf(format), compressedLength, expanded.Length),
                Content = InspectContent(expanded, $"{path} (decompressed)", 0, cancellationToken),
            };
        }
    }

    /// <summary>Inspects bytes already open (a whole disk, a partition, a decompressed image).</summary>
    public static ContentReport InspectContent(Stream stream, string name, int nesting = 0, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var report = new ContentReport();
        var head = ReadHead(stream, KnownSignatures.ProbeLength);

        ProbeIso(stream, name, report);
        if (nesting < MaxNesting)
        {
            ProbePartitions(stream, name, head, nesting, report, cancellationToken);
        }
        ProbeExt(stream, name, head, report);
        if (report.Formats.Count == 0)
        {
            var compressed = Compression.Detect(head);
            var meaning = compressed != CompressionFormat.None
                ? $"{Compression.NameOf(compressed)}-compressed data (inside a partition or image, fsmaker does not decompress it)"
                : KnownSignatures.Identify(head, stream.Length);
            if (meaning == null && stream.Length >= 512 && stream.Length > head.Length)
            {
                var last = new byte[512];
                stream.Position = stream.Length - 512;
                stream.ReadExactly(last);
                if (KnownSignatures.HasVhdFooter(last))
                {
                    meaning = "a fixed-size VHD: raw disk data followed by a 512-byte 'conectix' footer; no partition table or filesystem was found in the data";
                }
            }
            if (meaning != null && !meaning.StartsWith("all zeros", StringComparison.Ordinal))
            {
                report.OtherFormat = meaning;
            }
            report.Unrecognised = new UnrecognisedReport(Convert.ToHexString(head.AsSpan(0, Math.Min(16, head.Length))).ToLowerInvariant(), meaning);
        }
        return report;
    }

    private static byte[] ReadHead(Stream stream, int length)
    {
        var head = new byte[(int)Math.Min(length, Math.Max(0, stream.Length))];
        stream.Position = 0;
        stream.ReadExactly(head);
        return head;
    }

    // ---- ISO 9660 --------------------------------------------------------------------------------

    private static void ProbeIso(Stream stream, string name, ContentReport report)
    {
        if (stream.Length < IsoLayout.FirstDescriptorOffset + IsoLayout.SectorSize)
        {
            return;
        }
        var sector = new byte[IsoLayout.SectorSize];
        IsoPrimaryVolumeDescriptor? primary = null;
        ElToritoBootRecord? bootRecord = null;
        var joliet = false;
        for (var i = 0; i < MaxVolumeDescriptors; i++)
        {
            var offset = IsoLayout.FirstDescriptorOffset + (long)i * IsoLayout.SectorSize;
            if (offset + IsoLayout.SectorSize > stream.Length)
            {
                break;
            }
            stream.Position = offset;
            stream.ReadExactly(sector);
            if (!IsoLayout.IsDescriptor(sector))
            {
                break;
            }
            var type = (IsoVolumeDescriptorType)sector[0];
            if (type == IsoVolumeDescriptorType.Terminator)
            {
                break;
            }
            primary ??= IsoPrimaryVolumeDescriptor.TryRead(sector);
            bootRecord ??= ElToritoBootRecord.TryRead(sector);
            // Joliet: a supplementary descriptor whose escape sequence (byte 88) names UCS-2 ("%/@", "%/C", "%/E").
            joliet |= type == IsoVolumeDescriptorType.Supplementary && sector[88] == (byte)'%' && sector[89] == (byte)'/';
        }
        if (primary == null)
        {
            return;
        }
        var iso = new IsoReport
        {
            VolumeIdentifier = primary.VolumeIdentifier,
            SystemIdentifier = primary.SystemIdentifier,
            ApplicationIdentifier = primary.ApplicationIdentifier,
            SizeBytes = primary.SizeBytes,
            LogicalBlockSize = primary.LogicalBlockSize,
            CreationTime = primary.CreationTime,
            Joliet = joliet,
        };
        report.Formats.Add("iso9660");
        report.Iso = iso;
        if (primary.SizeBytes > stream.Length)
        {
            report.Warnings.Add($"the ISO volume says it is {primary.SizeBytes} bytes but the image has only {stream.Length}: it is truncated");
        }
        if (bootRecord != null)
        {
            ReadBootCatalog(stream, bootRecord.CatalogSector, iso, report);
        }
    }

    private static void ReadBootCatalog(Stream stream, uint catalogSector, IsoReport iso, ContentReport report)
    {
        var offset = (long)catalogSector * IsoLayout.SectorSize;
        if (catalogSector == 0 || offset + IsoLayout.SectorSize > stream.Length)
        {
            report.Warnings.Add($"the El Torito boot catalog at sector {catalogSector} is outside the image");
            return;
        }
        var catalog = new byte[IsoLayout.SectorSize];
        stream.Position = offset;
        stream.ReadExactly(catalog);
        var validation = ElToritoValidationEntry.TryRead(catalog);
        if (validation == null)
        {
            report.Warnings.Add($"the El Torito boot catalog at sector {catalogSector} has no valid validation entry");
            return;
        }
        var platform = validation.Platform;
        var position = ElToritoValidationEntry.Size;
        var initial = ElToritoBootEntry.TryRead(catalog.AsSpan(position));
        if (initial != null)
        {
            iso.BootEntries.Add(Describe(platform, initial));
        }
        position += ElToritoBootEntry.Size;
        // Section headers, each followed by its entries, until the final one (or the end of the sector).
        while (position + ElToritoSectionHeader.Size <= catalog.Length && iso.BootEntries.Count < MaxBootEntries)
        {
            var header = ElToritoSectionHeader.TryRead(catalog.AsSpan(position));
            if (header == null)
            {
                break;
            }
            position += ElToritoSectionHeader.Size;
            for (var i = 0; i < header.EntryCount && position + ElToritoBootEntry.Size <= catalog.Length && iso.BootEntries.Count < MaxBootEntries; i++)
            {
                var entry = ElToritoBootEntry.TryRead(catalog.AsSpan(position));
                position += ElToritoBootEntry.Size;
                if (entry != null)
                {
                    iso.BootEntries.Add(Describe(header.Platform, entry));
                }
            }
            if (header.IsLast)
            {
                break;
            }
        }
    }

    private static IsoBootEntryReport Describe(ElToritoPlatform platform, ElToritoBootEntry entry) => new(
        platform switch
        {
            ElToritoPlatform.X86Bios => "x86 BIOS",
            ElToritoPlatform.Efi => "UEFI",
            ElToritoPlatform.PowerPc => "PowerPC",
            ElToritoPlatform.Mac => "Mac",
            _ => $"platform 0x{(byte)platform:X2}",
        },
        entry.Bootable,
        entry.MediaType switch
        {
            ElToritoMediaType.NoEmulation => "no emulation",
            ElToritoMediaType.HardDisk => "hard disk emulation",
            _ => "floppy emulation",
        },
        entry.SectorCount,
        entry.LoadRba);

    // ---- Partition tables ------------------------------------------------------------------------

    private static void ProbePartitions(Stream stream, string name, byte[] head, int nesting, ContentReport report, CancellationToken cancellationToken)
    {
        if (head.Length < MasterBootRecord.Size || !PartitionTable.LooksPartitioned(head))
        {
            return;
        }
        PartitionTable table;
        try
        {
            table = PartitionTable.Read(stream, stream.Length, name);
        }
        catch (ImageToolsException e) when (e.Kind is ErrorKind.InvalidPartitionTable or ErrorKind.WrongInputKind or ErrorKind.CorruptImage)
        {
            if (e.Kind != ErrorKind.WrongInputKind)
            {
                report.Warnings.Add($"sector 0 looks like a partition table but cannot be read: {e.Message}");
            }
            return;
        }
        var scheme = table.Scheme == PartitionScheme.Gpt ? "GPT" : "MBR";
        report.Formats.Add(scheme.ToLowerInvariant());
        var tableReport = new PartitionTableReport { Scheme = scheme, DiskIdentifier = table.DiskIdentifier, SectorSize = table.SectorSize };
        tableReport.Problems.AddRange(table.FindProblems());
        report.PartitionTable = tableReport;
        foreach (var partition in table.Partitions)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var partitionReport = new PartitionReport
            {
                Number = partition.Number,
                Kind = partition.Kind.ToString().ToLowerInvariant(),
                StartSector = partition.StartSector,
                SectorCount = partition.SectorCount,
                SizeBytes = partition.Length,
                TypeId = partition.TypeId,
                TypeName = partition.TypeName,
                Bootable = partition.IsBootable,
                Name = string.IsNullOrEmpty(partition.Name) ? null : partition.Name,
                Uuid = partition.UniqueGuid?.ToString("D"),
            };
            tableReport.Partitions.Add(partitionReport);
            if (partition.IsContainer)
            {
                continue;
            }
            if (partition.Offset >= stream.Length || partition.Length <= 0)
            {
                report.Warnings.Add($"partition {partition.Number} starts past the end of the image; its content cannot be inspected");
                continue;
            }
            // A partition running past the end of the image is inspected as far as the image goes.
            var length = Math.Min(partition.Length, stream.Length - partition.Offset);
            using var window = new SubStream(stream, partition.Offset, length, name: $"{name} partition {partition.Number}");
            partitionReport.Content = InspectContent(window, $"{name} partition {partition.Number}", nesting + 1, cancellationToken);
        }
        ResolveBootMenuFilesystems(tableReport);
    }

    // ---- ext2/3/4 --------------------------------------------------------------------------------

    private static void ProbeExt(Stream stream, string name, byte[] head, ContentReport report)
    {
        const int magicOffset = Superblock.PrimaryOffset + 0x38;
        if (head.Length < magicOffset + 2 || head[magicOffset] != 0x53 || head[magicOffset + 1] != 0xEF)
        {
            return;
        }
        using var device = new ExtBlockDevice(stream, name, leaveOpen: true);
        Superblock sb;
        try
        {
            sb = ExtFileSystem.ReadSuperblock(device, new ExtOpenOptions { VerifyChecksums = false });
        }
        catch (ImageToolsException e)
        {
            report.Formats.Add("ext (damaged)");
            report.OtherFormat = $"an ext2/3/4 filesystem whose superblock is damaged: {e.Message}";
            return;
        }
        var kind = ExtFeatureSupport.Classify(sb);
        var ext = new ExtReport
        {
            Type = ExtFeatureSupport.NameOf(kind),
            Features = ExtFeatureNames.Describe(sb.FeatureCompat, sb.FeatureIncompat, sb.FeatureRoCompat),
            BlockSize = sb.BlockSize,
            BlockCount = sb.BlocksCount,
            FreeBlocks = sb.FreeBlocksCount,
            ReservedBlocks = sb.ReservedBlocksCount,
            InodeCount = sb.InodesCount,
            FreeInodes = sb.FreeInodesCount,
            Label = sb.VolumeName,
            Uuid = sb.UuidAsGuid.ToString("D"),
            LastMountedOn = DecodeNul(sb.LastMountedBytes),
            LastMountTime = Time(sb.MountTime),
            LastWriteTime = Time(sb.WriteTime),
            CreatedTime = Time(sb.MkfsTime),
            State = ((sb.State & Superblock.StateValid) != 0 ? "clean" : "not clean") + ((sb.State & Superblock.StateErrors) != 0 ? " with errors" : ""),
            NeedsRecovery = sb.FeatureIncompat.HasFlag(IncompatFeatures.NeedsRecovery),
        };
        report.Formats.Add(ext.Type);
        report.Ext = ext;
        foreach (var (what, value) in new[] { ("creation", sb.MkfsTime), ("last mount", sb.MountTime), ("last write", sb.WriteTime) })
        {
            if (value > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
            {
                ext.Warnings.Add($"the {what} time ({value} s after 1970) is past the year 9999: the superblock's time fields are damaged");
            }
        }
        if (kind == ExtKind.JournalDevice)
        {
            ext.FilesUnreadable = "an external journal device holds no files";
            return;
        }
        var fsBytes = sb.BlocksCount * (ulong)sb.BlockSize;
        if (fsBytes > (ulong)stream.Length)
        {
            ext.Warnings.Add($"the filesystem is {fsBytes} bytes but the image holds only {stream.Length}: it is truncated");
        }
        try
        {
            // An image copied from a running VM usually needs journal recovery; its /boot is almost never in
            // the journal, so the kernels are listed from the on-disk state, with a warning saying so.
            using var fs = ExtFileSystem.Open(device, new ExtOpenOptions { AllowStaleJournal = true });
            if (fs.IsStaleRead)
            {
                ext.Warnings.Add("the journal needs recovery (not cleanly unmounted); the files listed were read from the on-disk state without replaying it");
            }
            var (kernels, initrds) = KernelFinder.Find(fs);
            ext.Kernels.AddRange(kernels);
            ext.Initrds.AddRange(initrds);
            ext.BootMenu = ReadBootMenu(fs, ext.Warnings);
            ext.Warnings.AddRange(fs.Warnings);
        }
        catch (ImageToolsException e)
        {
            ext.FilesUnreadable = e.Message;
        }
    }

    /// <summary>Where a filesystem keeps GRUB's menu: /boot/grub on a root filesystem, /grub on a separate /boot.</summary>
    private static readonly string[] GrubConfigPaths = ["/boot/grub/grub.cfg", "/grub/grub.cfg"];

    private static BootMenuReport? ReadBootMenu(ExtFileSystem fs, List<string> warnings)
    {
        foreach (var path in GrubConfigPaths)
        {
            try
            {
                var inode = fs.TryResolve(path, followLast: true);
                if (inode is not { IsRegularFile: true })
                {
                    continue;
                }
                using var content = fs.OpenContent(inode);
                var bytes = new byte[(int)Math.Min((long)inode.Size, Boot.GrubConfigReader.MaximumLength)];
                content.ReadExactly(bytes);
                var menu = Boot.GrubConfigReader.Read(System.Text.Encoding.UTF8.GetString(bytes));
                var report = new BootMenuReport { Path = path, Default = menu.Default, Timeout = menu.Timeout };
                foreach (var entry in menu.Entries)
                {
                    report.Entries.Add(new BootMenuEntryReport
                    {
                        Entry = entry,
                        KernelFrom = entry.Source == Boot.GrubFileSource.BootPartition
                            || string.Equals(entry.SearchUuid, fs.Superblock.UuidAsGuid.ToString("D"), StringComparison.OrdinalIgnoreCase)
                            ? "this filesystem" : null,
                    });
                }
                return report;
            }
            catch (ImageToolsException e)
            {
                warnings.Add($"{path} cannot be read: {e.Message}");
                return null;
            }
        }
        return null;
    }

    /// <summary>
    /// A boot entry that searches its kernel's filesystem by UUID names the partition of this disk holding
    /// that filesystem (fsmaker's entries for kernels inside the root filesystem find partition 1 this way).
    /// </summary>
    private static void ResolveBootMenuFilesystems(PartitionTableReport table)
    {
        var byUuid = table.Partitions
            .Where(p => p.Content?.Ext != null)
            .GroupBy(p => p.Content!.Ext!.Uuid, StringComparer.OrdinalIgnoreCase)
            .ToDictionary(g => g.Key, g => g.Select(p => p.Number).ToList(), StringComparer.OrdinalIgnoreCase);
        foreach (var menu in table.Partitions.Select(p => p.Content?.Ext?.BootMenu).OfType<BootMenuReport>())
        {
            foreach (var entry in menu.Entries.Where(e => e.Entry.SearchUuid != null))
            {
                entry.KernelFrom = byUuid.TryGetValue(entry.Entry.SearchUuid!, out var numbers)
                    ? (numbers.Count == 1 ? $"partition {numbers[0]}" : $"partitions {string.Join(" and ", numbers)} (the same UUID twice: GRUB takes the first it finds)")
                    : $"the filesystem with UUID {entry.Entry.SearchUuid}, which is not on this disk";
            }
        }
    }

    // 0 means "never"; the superblock's high time bytes can reach the year 36812, past what a
    // DateTimeOffset holds (9999): such a value is damage and is reported as unknown.
    private static DateTimeOffset? Time(long seconds) =>
        seconds == 0 || seconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds() ? null : DateTimeOffset.FromUnixTimeSeconds(seconds);

    private static string DecodeNul(byte[] bytes)
    {
        var n = Array.IndexOf(bytes, (byte)0);
        return System.Text.Encoding.UTF8.GetString(bytes, 0, n < 0 ? bytes.Length : n);
    }
}
