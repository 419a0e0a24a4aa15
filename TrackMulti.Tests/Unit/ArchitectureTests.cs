using System.Text.RegularExpressions;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.Unit;

/// <summary>
/// The Api's folders depend on each other one way only (README, architecture): Ingestion → Batching → Spool,
/// Ingestion → Sinks → Spool, and Ingestion → Replay → (Batching, Sinks); the spool knows no sink and no batcher, a sink no batcher; Model and Telemetry depend on
/// nothing. Read from the source, so a new reference against the grain fails here.
/// </summary>
public sealed partial class ArchitectureTests
{
    /// <summary>What each folder may name besides itself.</summary>
    private static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Model"] = [],
        ["Telemetry"] = [],
        ["Spool"] = ["Model", "Telemetry"],
        ["Sinks"] = ["Spool", "Model", "Telemetry"],
        ["Sinks.S3"] = ["Sinks", "Spool", "Model", "Telemetry"],
        ["Sinks.Fme"] = ["Sinks", "Spool", "Model", "Telemetry"],
        ["Batching"] = ["Spool", "Model", "Telemetry"],
        ["Replay"] = ["Batching", "Sinks", "Sinks.S3", "Sinks.Fme", "Spool", "Model", "Telemetry"],
        ["Ingestion"] = ["Replay", "Batching", "Sinks", "Sinks.S3", "Sinks.Fme", "Spool", "Model", "Telemetry"],
    };

    [Fact]
    public void The_Api_folders_reference_each_other_one_way()
    {
        var api = Path.Combine(TestPaths.RepositoryRoot, "TrackMulti.Api");
        var against = new List<string>();
        var folders = new HashSet<string>();
        foreach (var file in Directory.EnumerateFiles(api, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(api, Path.GetDirectoryName(file)!);
            if (relative == "." || relative.StartsWith("obj", StringComparison.Ordinal) || relative.StartsWith("bin", StringComparison.Ordinal))
            {
                continue; // Program.cs composes everything
            }
            var folder = relative.Replace(Path.DirectorySeparatorChar, '.');
            folders.Add(folder);
            Assert.True(Allowed.ContainsKey(folder), $"{folder} is a new folder: say in this test (and the README) what it may depend on");
            foreach (Match reference in ApiNamespace().Matches(File.ReadAllText(file)))
            {
                var target = reference.Groups[1].Value;
                if (target != folder && !Allowed[folder].Contains(target))
                {
                    against.Add($"{Path.GetRelativePath(api, file)} names {target}");
                }
            }
        }

        Assert.Equal(Allowed.Keys.Order(), folders.Order());
        Assert.Empty(against);
    }

    [GeneratedRegex(@"TrackMulti\.Api\.(\w+(?:\.(?:S3|Fme))?)\b")]
    private static partial Regex ApiNamespace();
}
