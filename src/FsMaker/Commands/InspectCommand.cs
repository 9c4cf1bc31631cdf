using System.CommandLine;
using ImageTools.Core.Imaging;

namespace ImageTools.FsMaker.Commands;

/// <summary>
/// <c>fsmaker inspect IMAGE [--json]</c>: what an image is and what is inside (docs/fsmaker.md "inspect"):
/// partition tables and each partition's content, ext filesystems with their kernels, ISO 9660 images,
/// compressed images (inspected through decompression), and what unrecognised bytes are.
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("IMAGE") { Description = "A disk image, filesystem image, ISO image or block device; may be compressed (gzip, zstd, xz, bzip2)" };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON on stdout" };
        var command = new Command("inspect", "Say what an image is and what it holds: partitions, filesystems, kernels, ISO volumes") { image, json };
        command.SetAction((parse, cancellation) => Task.FromResult(ImageReadingSupport.Guarded(() =>
        {
            var report = ImageInspector.Inspect(parse.GetValue(image)!, cancellation);
            if (parse.GetValue(json))
            {
                using var stdout = Console.OpenStandardOutput();
                ImageReportFormatter.WriteJson(report, stdout);
            }
            else
            {
                Console.Out.Write(ImageReportFormatter.ToText(report));
            }
            return ExitCodes.Success;
        })));
        return command;
    }
}
