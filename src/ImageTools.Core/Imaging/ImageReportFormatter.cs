using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ImageTools.Core.Imaging;

/// <summary>
/// Renders an <see cref="ImageReport"/> as text for people and as JSON for scripts (written with
/// <see cref="Utf8JsonWriter"/>, so it needs no reflection and works under Native AOT). The JSON
/// keeps exact numbers (bytes, blocks); the text rounds sizes for reading.
/// </summary>
public static class ImageReportFormatter
{
    // ---- Text ------------------------------------------------------------------------------------

    public static string ToText(ImageReport report)
    {
        var text = new StringBuilder();
        text.Append(report.Path).Append(": ");
        if (report.Compression is { } c)
        {
            text.Append($"{c.Format}-compressed image, {Size(c.CompressedBytes)}; {Size(c.UncompressedBytes)} when decompressed (inspected through decompression)\n");
        }
        else
        {
            text.Append($"{Size(report.SizeBytes)}\n");
        }
        AppendContent(text, report.Content, "  ");
        return text.ToString();
    }

    private static void AppendContent(StringBuilder text, ContentReport content, string indent)
    {
        if (content.Iso is { } iso)
        {
            text.Append(indent).Append($"ISO 9660 image: volume \"{iso.VolumeIdentifier}\", {Size(iso.SizeBytes)}");
            if (iso.Joliet)
            {
                text.Append(", Joliet names");
            }
            text.Append('\n');
            if (iso.BootEntries.Count > 0)
            {
                text.Append(indent).Append(iso.Bootable ? "  El Torito bootable: " : "  El Torito catalog, no bootable entry: ")
                    .Append(string.Join("; ", iso.BootEntries.Select(e => $"{e.Platform}, {e.Emulation}{(e.Bootable ? "" : " (not bootable)")}")))
                    .Append('\n');
            }
            else
            {
                text.Append(indent).Append("  not bootable (no El Torito boot catalog)\n");
            }
            text.Append(indent).Append("  note: ").Append(iso.Note).Append('\n');
        }
        if (content.PartitionTable is { } table)
        {
            text.Append(indent).Append($"{table.Scheme} partition table, disk identifier {table.DiskIdentifier}, {table.Partitions.Count} partition{(table.Partitions.Count == 1 ? "" : "s")}\n");
            foreach (var problem in table.Problems)
            {
                text.Append(indent).Append("  problem: ").Append(problem).Append('\n');
            }
            foreach (var p in table.Partitions)
            {
                text.Append(indent).Append($"  partition {p.Number}: sectors {p.StartSector}-{p.StartSector + p.SectorCount - 1}, {Size(p.SizeBytes)}, type {p.TypeId} ({p.TypeName})");
                if (p.Kind is "extended" or "logical")
                {
                    text.Append(", ").Append(p.Kind);
                }
                if (p.Bootable)
                {
                    text.Append(", bootable");
                }
                if (p.Name != null)
                {
                    text.Append($", name \"{p.Name}\"");
                }
                text.Append('\n');
                if (p.Content != null)
                {
                    AppendContent(text, p.Content, indent + "    ");
                }
            }
        }
        if (content.Ext is { } ext)
        {
            AppendExt(text, ext, indent);
        }
        if (content.Unrecognised is { } unknown)
        {
            text.Append(indent).Append("unrecognised (first bytes ").Append(SpacedHex(unknown.FirstBytesHex)).Append(')');
            text.Append(unknown.Meaning != null ? $": {unknown.Meaning}" : "").Append('\n');
        }
        else if (content.OtherFormat is { } other)
        {
            text.Append(indent).Append(Capitalise(other)).Append('\n');
        }
        foreach (var warning in content.Warnings)
        {
            text.Append(indent).Append("warning: ").Append(warning).Append('\n');
        }
    }

    private static void AppendExt(StringBuilder text, ExtReport ext, string indent)
    {
        void Line(string label, string value) => text.Append(indent).Append("  ").Append((label + ":").PadRight(15)).Append(value).Append('\n');
        text.Append(indent).Append(ext.Type).Append(" filesystem\n");
        Line("label", ext.Label.Length == 0 ? "<none>" : ext.Label);
        Line("UUID", ext.Uuid);
        Line("features", ext.Features.Count == 0 ? "(none)" : string.Join(' ', ext.Features));
        Line("block size", ext.BlockSize.ToString(CultureInfo.InvariantCulture));
        Line("size", $"{Size((long)ext.SizeBytes)} ({ext.BlockCount} blocks)");
        Line("used", $"{Size((long)ext.UsedBytes)}; free {Size((long)ext.FreeBytes)} ({ext.FreeBlocks} blocks, {Size((long)ext.AvailableBytes)} available to non-root users)");
        Line("inodes", $"{ext.InodeCount}, {ext.FreeInodes} free");
        Line("state", ext.State + (ext.NeedsRecovery ? "; the journal needs recovery" : ""));
        Line("created", When(ext.CreatedTime));
        Line("last mounted", ext.LastMountTime is { } m ? When(m) + (ext.LastMountedOn.Length > 0 ? $" on {ext.LastMountedOn}" : "") : "never");
        Line("last written", When(ext.LastWriteTime));
        if (ext.FilesUnreadable != null)
        {
            Line("files", "not read: " + ext.FilesUnreadable);
        }
        else
        {
            AppendBootFiles(text, indent, "kernels", ext.Kernels);
            AppendBootFiles(text, indent, "initrds", ext.Initrds);
            if (ext.BootMenu is { } menu)
            {
                AppendBootMenu(text, indent, menu);
            }
        }
        foreach (var warning in ext.Warnings)
        {
            Line("warning", warning);
        }
    }

    private static void AppendBootFiles(StringBuilder text, string indent, string label, List<BootFileReport> files)
    {
        var first = true;
        foreach (var f in files)
        {
            text.Append(indent).Append("  ").Append((first ? label + ":" : "").PadRight(15));
            text.Append(f.Path);
            if (f.LinkTarget != null)
            {
                text.Append(" -> ").Append(f.LinkTarget);
            }
            var details = new List<string>();
            if (f.Version != null)
            {
                details.Add("version " + f.Version);
            }
            if (f.SizeBytes > 0)
            {
                details.Add(Size(f.SizeBytes));
            }
            else if (f.LinkTarget != null)
            {
                details.Add("target not in this filesystem");
            }
            if (f.HeaderVersion != null)
            {
                details.Add($"built as \"{f.HeaderVersion}\"");
            }
            if (details.Count > 0)
            {
                text.Append(" (").Append(string.Join(", ", details)).Append(')');
            }
            text.Append('\n');
            first = false;
        }
        if (first)
        {
            text.Append(indent).Append("  ").Append((label + ":").PadRight(15)).Append("none found\n");
        }
    }

    private static void AppendBootMenu(StringBuilder text, string indent, BootMenuReport menu)
    {
        var settings = new List<string>();
        if (menu.Default != null)
        {
            settings.Add("default " + menu.Default);
        }
        if (menu.Timeout != null)
        {
            settings.Add($"timeout {menu.Timeout} s");
        }
        text.Append(indent).Append("  ").Append("boot menu:".PadRight(15)).Append(menu.Path);
        text.Append(settings.Count > 0 ? $" ({string.Join(", ", settings)})" : "");
        text.Append(menu.Entries.Count == 0 ? ": no entries (GRUB stops at its command line)\n" : "\n");
        foreach (var e in menu.Entries)
        {
            var entry = e.Entry;
            text.Append(indent).Append("  ").Append("".PadRight(15)).Append('\'').Append(entry.Title).Append("': ");
            if (entry.KernelPath == null)
            {
                text.Append("boots no Linux kernel");
            }
            else
            {
                text.Append("linux ").Append(entry.KernelPath);
                if (!string.IsNullOrEmpty(entry.CommandLine))
                {
                    text.Append(' ').Append(entry.CommandLine);
                }
                if (entry.InitrdPaths.Count > 0)
                {
                    text.Append("; initrd ").Append(string.Join(' ', entry.InitrdPaths));
                }
                var from = e.KernelFrom ?? (entry.SearchUuid != null ? $"the filesystem with UUID {entry.SearchUuid}" : null);
                if (from != null)
                {
                    text.Append(" (from ").Append(from).Append(')');
                }
            }
            text.Append('\n');
        }
    }

    /// <summary>A size in binary units with one decimal, e.g. "2.0 GiB"; bytes below 1 KiB.</summary>
    public static string Size(long bytes)
    {
        string[] units = { "KiB", "MiB", "GiB", "TiB", "PiB" };
        if (bytes < 1024)
        {
            return $"{bytes} bytes";
        }
        double value = bytes;
        var unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }
        return value.ToString("0.0", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    private static string When(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : "n/a";

    private static string SpacedHex(string hex) =>
        string.Join(' ', Enumerable.Range(0, hex.Length / 2).Select(i => hex.Substring(i * 2, 2)));

    private static string Capitalise(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    // ---- JSON ------------------------------------------------------------------------------------

    /// <summary>Writes the report as one JSON object (indented).</summary>
    public static void WriteJson(ImageReport report, Stream output)
    {
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("path", report.Path);
        json.WriteNumber("sizeBytes", report.SizeBytes);
        if (report.Compression is { } c)
        {
            json.WriteStartObject("compression");
            json.WriteString("format", c.Format);
            json.WriteNumber("compressedBytes", c.CompressedBytes);
            json.WriteNumber("uncompressedBytes", c.UncompressedBytes);
            json.WriteEndObject();
        }
        else
        {
            json.WriteNull("compression");
        }
        json.WritePropertyName("content");
        WriteContent(json, report.Content);
        json.WriteEndObject();
        json.Flush();
        output.WriteByte((byte)'\n');
    }

    private static void WriteContent(Utf8JsonWriter json, ContentReport content)
    {
        json.WriteStartObject();
        json.WriteStartArray("formats");
        foreach (var f in content.Formats)
        {
            json.WriteStringValue(f);
        }
        json.WriteEndArray();
        if (content.Iso is { } iso)
        {
            json.WriteStartObject("iso9660");
            json.WriteString("volumeIdentifier", iso.VolumeIdentifier);
            json.WriteString("systemIdentifier", iso.SystemIdentifier);
            json.WriteString("applicationIdentifier", iso.ApplicationIdentifier);
            json.WriteNumber("sizeBytes", iso.SizeBytes);
            json.WriteNumber("logicalBlockSize", iso.LogicalBlockSize);
            WriteTime(json, "created", iso.CreationTime);
            json.WriteBoolean("joliet", iso.Joliet);
            json.WriteBoolean("bootable", iso.Bootable);
            json.WriteStartArray("bootEntries");
            foreach (var e in iso.BootEntries)
            {
                json.WriteStartObject();
                json.WriteString("platform", e.Platform);
                json.WriteBoolean("bootable", e.Bootable);
                json.WriteString("emulation", e.Emulation);
                json.WriteNumber("loadSectors", e.LoadSectors);
                json.WriteNumber("loadRba", e.LoadRba);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteString("note", iso.Note);
            json.WriteEndObject();
        }
        if (content.PartitionTable is { } table)
        {
            json.WriteStartObject("partitionTable");
            json.WriteString("scheme", table.Scheme);
            json.WriteString("diskIdentifier", table.DiskIdentifier);
            json.WriteNumber("sectorSize", table.SectorSize);
            WriteStrings(json, "problems", table.Problems);
            json.WriteStartArray("partitions");
            foreach (var p in table.Partitions)
            {
                json.WriteStartObject();
                json.WriteNumber("number", p.Number);
                json.WriteString("kind", p.Kind);
                json.WriteNumber("startSector", p.StartSector);
                json.WriteNumber("sectorCount", p.SectorCount);
                json.WriteNumber("sizeBytes", p.SizeBytes);
                json.WriteString("typeId", p.TypeId);
                json.WriteString("typeName", p.TypeName);
                json.WriteBoolean("bootable", p.Bootable);
                WriteOptional(json, "name", p.Name);
                WriteOptional(json, "uuid", p.Uuid);
                if (p.Content != null)
                {
                    json.WritePropertyName("content");
                    WriteContent(json, p.Content);
                }
                else
                {
                    json.WriteNull("content");
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        if (content.Ext is { } ext)
        {
            json.WriteStartObject("ext");
            json.WriteString("type", ext.Type);
            WriteStrings(json, "features", ext.Features);
            json.WriteNumber("blockSize", ext.BlockSize);
            json.WriteNumber("blockCount", ext.BlockCount);
            json.WriteNumber("freeBlocks", ext.FreeBlocks);
            json.WriteNumber("reservedBlocks", ext.ReservedBlocks);
            json.WriteNumber("sizeBytes", ext.SizeBytes);
            json.WriteNumber("usedBytes", ext.UsedBytes);
            json.WriteNumber("freeBytes", ext.FreeBytes);
            json.WriteNumber("availableBytes", ext.AvailableBytes);
            json.WriteNumber("inodeCount", ext.InodeCount);
            json.WriteNumber("freeInodes", ext.FreeInodes);
            json.WriteString("label", ext.Label);
            json.WriteString("uuid", ext.Uuid);
            json.WriteString("state", ext.State);
            json.WriteBoolean("needsRecovery", ext.NeedsRecovery);
            WriteTime(json, "created", ext.CreatedTime);
            WriteTime(json, "lastMountTime", ext.LastMountTime);
            json.WriteString("lastMountedOn", ext.LastMountedOn);
            WriteTime(json, "lastWriteTime", ext.LastWriteTime);
            WriteOptional(json, "filesUnreadable", ext.FilesUnreadable);
            WriteBootFiles(json, "kernels", ext.Kernels);
            WriteBootFiles(json, "initrds", ext.Initrds);
            WriteBootMenu(json, ext.BootMenu);
            WriteStrings(json, "warnings", ext.Warnings);
            json.WriteEndObject();
        }
        WriteOptional(json, "otherFormat", content.OtherFormat);
        if (content.Unrecognised is { } unknown)
        {
            json.WriteStartObject("unrecognised");
            json.WriteString("firstBytes", unknown.FirstBytesHex);
            WriteOptional(json, "meaning", unknown.Meaning);
            json.WriteEndObject();
        }
        WriteStrings(json, "warnings", content.Warnings);
        json.WriteEndObject();
    }

    private static void WriteBootFiles(Utf8JsonWriter json, string name, List<BootFileReport> files)
    {
        json.WriteStartArray(name);
        foreach (var f in files)
        {
            json.WriteStartObject();
            json.WriteString("path", f.Path);
            WriteOptional(json, "version", f.Version);
            json.WriteNumber("sizeBytes", f.SizeBytes);
            WriteOptional(json, "linkTarget", f.LinkTarget);
            WriteOptional(json, "headerVersion", f.HeaderVersion);
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    private static void WriteBootMenu(Utf8JsonWriter json, BootMenuReport? menu)
    {
        if (menu == null)
        {
            json.WriteNull("bootMenu");
            return;
        }
        json.WriteStartObject("bootMenu");
        json.WriteString("path", menu.Path);
        WriteOptional(json, "default", menu.Default);
        WriteOptional(json, "timeout", menu.Timeout);
        json.WriteStartArray("entries");
        foreach (var e in menu.Entries)
        {
            json.WriteStartObject();
            json.WriteString("title", e.Entry.Title);
            WriteOptional(json, "kernel", e.Entry.KernelPath);
            WriteOptional(json, "commandLine", e.Entry.CommandLine);
            WriteStrings(json, "initrds", e.Entry.InitrdPaths);
            WriteOptional(json, "searchUuid", e.Entry.SearchUuid);
            WriteOptional(json, "kernelFrom", e.KernelFrom);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var v in values)
        {
            json.WriteStringValue(v);
        }
        json.WriteEndArray();
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, string? value)
    {
        if (value == null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    private static void WriteTime(Utf8JsonWriter json, string name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            json.WriteString(name, v.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
