using System.CommandLine;

namespace ImageTools.FsMaker;

/// <summary>The subcommands fsmaker offers; each lives in Commands/ and adds one line here.</summary>
internal static class CommandRegistry
{
    public static IEnumerable<Command> Subcommands()
    {
        yield return Commands.MkfsCommand.Create();
        yield return Commands.InspectCommand.Create();
        yield return Commands.ExtractCommand.Create();
        yield return Commands.ExportCommand.Create();
        yield return Commands.ScrubCommand.Create();
        yield return Commands.CustomizeCommand.Create();
        yield return Commands.BootTestCommand.Create();
        yield return Commands.SbomCommand.Create();
    }
}
