using System.Globalization;
using System.Text;
using System.Text.Json;
using ImageTools.Core.Partitions;
using ImageTools.Core.Streams;

namespace ImageTools.SparseCopy;

/// <summary>
/// <c>--list IMAGE</c>: the partition table as <c>sfdisk -l</c> prints it (the disk, its label type and
/// identifier, then one line per partition: device, boot flag, start, end, sectors, size, type id and name),
/// or with <c>--json</c> as <c>sfdisk -J</c> prints it plus the end sector, byte size, type name, kind and the
/// problems. A damaged table is listed as far as it can be read, followed by its problems; exit 0. No table at
/// all is an error (exit 19).
/// </summary>
public static class ListMode
{
    public static int Run(SparseCopyArguments args)
    {
        using var opened = SourceOpener.Open(args.Image, decompress: !args.NoDecompress);
        var table = PartitionTable.Read(opened, tolerateBrokenChain: true);
        var problems = table.FindProblems();
        var device = args.Image == SourceOpener.StdinName ? "stdin" : args.Image;
        using var stdout = Console.OpenStandardOutput();
        if (args.Json)
        {
            WriteJson(stdout, device, table, opened.Source.Length, problems);
        }
        else
        {
            var text = Text(device, opened.Source.Name, table, opened.Source.Length, problems);
            stdout.Write(Encoding.UTF8.GetBytes(text));
        }
        return ExitCodes.Success;
    }

    /// <summary>The node name sfdisk gives partition <paramref name="number"/> of <paramref name="device"/>: "disk.img2", "/dev/sda2", "/dev/loop0p2".</summary>
    public static string NodeName(string device, int number) =>
        device.Length > 0 && char.IsAsciiDigit(device[^1]) ? $"{device}p{number}" : $"{device}{number}";

    public static string Text(string device, string sourceName, PartitionTable table, long? diskBytes, IReadOnlyList<string> problems)
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(diskBytes is { } bytes
            ? string.Create(c, $"Disk {device}: {HumanSize.Format(bytes, longForm: true)}, {bytes} bytes, {bytes / table.SectorSize} sectors\n")
            : $"Disk {sourceName}: size unknown (compressed: it is known only once decompressed to the end)\n");
        sb.Append(string.Create(c, $"Units: sectors of 1 * {table.SectorSize} = {table.SectorSize} bytes\n"));
        sb.Append($"Disklabel type: {Label(table)}\n");
        sb.Append($"Disk identifier: {table.DiskIdentifier}\n");

        var gpt = table.Scheme == PartitionScheme.Gpt;
        if (table.Partitions.Count > 0)
        {
            var headers = gpt
                ? new[] { "Device", "Boot", "Start", "End", "Sectors", "Size", "Type", "Type-UUID", "Name" }
                : new[] { "Device", "Boot", "Start", "End", "Sectors", "Size", "Id", "Type" };
            // Right-aligned columns: the numbers and the MBR type id, as sfdisk aligns them.
            var rightAligned = gpt ? new[] { 2, 3, 4, 5 } : new[] { 2, 3, 4, 5, 6 };
            var rows = table.Partitions.Select(p => gpt
                ? new[]
                {
                    NodeName(device, p.Number), p.IsBootable ? "*" : "", N(p.StartSector), N(p.EndSector), N(p.SectorCount),
                    HumanSize.Format(p.Length), p.TypeName, p.TypeId, p.Name ?? "",
                }
                : new[]
                {
                    NodeName(device, p.Number), p.IsBootable ? "*" : "", N(p.StartSector), N(p.EndSector), N(p.SectorCount),
                    HumanSize.Format(p.Length), p.TypeId, p.TypeName,
                }).ToList();
            var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
            widths[0] = Math.Max(widths[0], 10); // sfdisk's device column is at least 10 wide

            sb.Append('\n');
            AppendRow(sb, headers, widths, rightAligned);
            foreach (var row in rows)
            {
                AppendRow(sb, row, widths, rightAligned);
            }
        }

        if (problems.Count > 0)
        {
            sb.Append("\nThe partition table has problems:\n");
            foreach (var problem in problems)
            {
                sb.Append("  ").Append(problem).Append('\n');
            }
        }
        return sb.ToString();
    }

    private static string N(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Label(PartitionTable table) => table.Scheme == PartitionScheme.Gpt ? "gpt" : "dos";

    private static void AppendRow(StringBuilder sb, string[] cells, int[] widths, int[] rightAligned)
    {
        var line = new StringBuilder();
        for (var i = 0; i < cells.Length; i++)
        {
            if (i > 0)
            {
                line.Append(' ');
            }
            var last = i == cells.Length - 1;
            if (rightAligned.Contains(i))
            {
                line.Append(cells[i].PadLeft(widths[i]));
            }
            else
            {
                line.Append(last ? cells[i] : cells[i].PadRight(widths[i]));
            }
        }
        sb.Append(line.ToString().TrimEnd()).Append('\n');
    }

    private static void WriteJson(Stream stream, string device, PartitionTable table, long? diskBytes, IReadOnlyList<string> problems)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteStartObject("partitiontable");
        json.WriteString("label", Label(table));
        json.WriteString("id", table.DiskIdentifier);
        json.WriteString("device", device);
        json.WriteString("unit", "sectors");
        if (table.Gpt is { } gpt)
        {
            json.WriteNumber("firstlba", (long)gpt.Header.FirstUsableLba);
            json.WriteNumber("lastlba", (long)gpt.Header.LastUsableLba);
        }
        json.WriteNumber("sectorsize", table.SectorSize);
        if (diskBytes is { } bytes)
        {
            json.WriteNumber("disksize", bytes);
            json.WriteNumber("disksectors", bytes / table.SectorSize);
        }
        else
        {
            json.WriteNull("disksize");
            json.WriteNull("disksectors");
        }
        json.WriteStartArray("partitions");
        foreach (var p in table.Partitions)
        {
            json.WriteStartObject();
            json.WriteString("node", NodeName(device, p.Number));
            json.WriteNumber("number", p.Number);
            json.WriteNumber("start", p.StartSector);
            json.WriteNumber("end", p.EndSector);
            json.WriteNumber("size", p.SectorCount);
            json.WriteNumber("bytes", p.Length);
            json.WriteString("type", p.TypeId);
            json.WriteString("typename", p.TypeName);
            json.WriteString("kind", p.Kind switch
            {
                PartitionKind.Extended => "extended",
                PartitionKind.Logical => "logical",
                PartitionKind.Gpt => "gpt",
                _ => "primary",
            });
            json.WriteBoolean("bootable", p.IsBootable);
            if (p.UniqueGuid is { } uuid)
            {
                json.WriteString("uuid", uuid.ToString("D").ToUpperInvariant());
            }
            if (!string.IsNullOrEmpty(p.Name))
            {
                json.WriteString("name", p.Name);
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartArray("problems");
        foreach (var problem in problems)
        {
            json.WriteStringValue(problem);
        }
        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndObject();
        json.Flush();
        stream.WriteByte((byte)'\n');
    }
}
