using System.CommandLine;
using ImageTools.CommandLineSupport;
using ImageTools.Core;
using ImageTools.Core.Ext.Writer;
using ImageTools.FsMaker;

// fsmaker: build (the default command), plus subcommands. Each subcommand lives in its own file
// under Commands/ and is registered in CommandRegistry; the core library does the work.
//
// A first word naming a subcommand selects it; anything else is the default command,
// fsmaker [options] ROOTIMAGE OUTPUTIMAGE. The two are separate root commands, so that neither's help
// shows the other's arguments ("fsmaker <ROOTIMAGE> <OUTPUTIMAGE> inspect <IMAGE>" would be wrong).
var subcommands = CommandRegistry.Subcommands().ToList();
RootCommand root;
if (args.Length > 0 && subcommands.Any(c => c.Name == args[0] || c.Aliases.Contains(args[0])))
{
    root = new RootCommand("fsmaker: make bootable MBR disk images from a root filesystem, and build, inspect and clean filesystems");
    foreach (var command in subcommands)
    {
        root.Subcommands.Add(command);
    }
}
else
{
    root = new RootCommand(
        "fsmaker: make a bootable MBR disk image from a root filesystem (an ext2/3/4 image, a directory or a tar archive), " +
        "with GRUB 2 installed by fsmaker itself; no root, loop devices or mounting.\n" +
        "Other commands: " + string.Join(", ", subcommands.Select(c => c.Name)) + " (fsmaker <command> --help).");
    ImageTools.FsMaker.Commands.BuildCommand.AddTo(root);
}

// Ctrl-C and SIGTERM cancel the command's token; a command stuck in a blocking read is ended by the
// interruption's watchdog, which first removes every temporary output file. System.CommandLine's own
// termination handling is off (ProcessTerminationTimeout = null): two mechanisms ending one process race.
using var interruption = new Interruption("fsmaker");
interruption.OnForcedExit(AtomicOutputFile.DeleteAllPending);
LastResort.Install("fsmaker", interruption);
int exitCode;
try
{
    // Our own handler below maps ImageToolsException to a documented exit code; System.CommandLine's
    // default handler would print a stack trace and exit 1 instead.
    var configuration = new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null };
    exitCode = await root.Parse(args).InvokeAsync(configuration, interruption.Token);
}
catch (ImageToolsException e)
{
    Console.Error.WriteLine($"fsmaker: {e.Message}");
    exitCode = ExitCodes.For(e.Kind);
}
catch (OperationCanceledException) when (interruption.Token.IsCancellationRequested)
{
    Console.Error.WriteLine("fsmaker: interrupted");
    exitCode = ExitCodes.Cancelled;
}
catch (Exception e)
{
    // Every expected failure is an ImageToolsException above; anything else is a bug, reported in one line
    // (exit 70) after the temporary outputs are removed, never as the runtime's stack trace.
    AtomicOutputFile.DeleteAllPending();
    exitCode = LastResort.Report("fsmaker", e);
}
if (interruption.Token.IsCancellationRequested && exitCode == ExitCodes.Cancelled)
{
    exitCode = interruption.ExitCode; // 143 for SIGTERM
}
if (!interruption.ClaimExit())
{
    Thread.Sleep(Timeout.Infinite); // the watchdog is ending the process with its own code
}
return exitCode;
