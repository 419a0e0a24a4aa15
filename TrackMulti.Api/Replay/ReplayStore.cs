using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace TrackMulti.Api.Replay;

/// <summary>
/// Replays on disk, in <c>SPOOL_DIR/replays</c>, which every replica sharing the spool sees: per replay its plan
/// (<c>&lt;id&gt;.keys</c>, the objects to read, one key a line, written once), its progress (<c>&lt;id&gt;.json</c>,
/// replaced whole after every post, by rename, so a reader never sees half of it) and a lock (<c>&lt;id&gt;.lock</c>,
/// <c>flock</c> held by the replica running it, freed by the kernel when that process dies, however it dies).
/// </summary>
public sealed partial class ReplayStore
{
    public const string FolderName = Spool.SpoolFolders.ReplaysFolder;

    private readonly string _folder;

    /// <param name="folder">Made with the first replay.</param>
    public ReplayStore(string folder) => _folder = folder;

    /// <summary>A fresh id: random, so replicas never make the same one.</summary>
    public static string NewId() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));

    /// <summary>Whether <paramref name="id"/> could name a replay (anything else names none, and no file).</summary>
    public static bool IsId(string id) => IdPattern().IsMatch(id);

    /// <summary>
    /// Locks a new replay, then writes its plan, then its progress: a replay on disk always has its plan, and no other
    /// replica takes it up before it has begun. The lock is the caller's.
    /// </summary>
    public IDisposable Create(ReplayProgress progress, IReadOnlyList<string> keys)
    {
        Directory.CreateDirectory(_folder);
        var held = TryLock(progress.Status.Id) ?? throw new IOException($"The new replay {progress.Status.Id} is locked already.");
        var plan = PathOf(progress.Status.Id, ".keys");
        WriteSynced(plan + ".tmp", System.Text.Encoding.UTF8.GetBytes(string.Concat(keys.Select(key => key + "\n"))));
        File.Move(plan + ".tmp", plan, overwrite: true);
        Save(progress);
        return held;
    }

    public IReadOnlyList<string> Plan(string id) => File.ReadAllLines(PathOf(id, ".keys"));

    public void Save(ReplayProgress progress)
    {
        var path = PathOf(progress.Status.Id, ".json");
        WriteSynced(path + ".tmp", JsonSerializer.SerializeToUtf8Bytes(progress, ReplayJsonContext.Default.ReplayProgress));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public ReplayProgress? Find(string id)
    {
        if (!IsId(id))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(PathOf(id, ".json")), ReplayJsonContext.Default.ReplayProgress);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (JsonException)
        {
            return null; // not one this store wrote whole (it replaces progress by rename): no replay to show or take up
        }
    }

    /// <summary>Every replay on disk, newest first.</summary>
    public IReadOnlyList<ReplayProgress> All() => !Directory.Exists(_folder) ? [] :
        [.. Directory.EnumerateFiles(_folder, "*.json")
            .Select(path => Find(Path.GetFileNameWithoutExtension(path)))
            .OfType<ReplayProgress>()
            .OrderByDescending(progress => progress.Status.CreatedAt)];

    /// <summary>The lock on a replay, or null when a live replica holds it.</summary>
    public IDisposable? TryLock(string id)
    {
        try
        {
            return new FileStream(PathOf(id, ".lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>On disk before the rename that shows it, so a power cut leaves the old file or the new, never an empty one.</summary>
    private static void WriteSynced(string path, byte[] content)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        file.Write(content);
        file.Flush(flushToDisk: true);
    }

    private string PathOf(string id, string extension) => Path.Combine(_folder, id + extension);

    [GeneratedRegex(@"^[0-9a-f]{16}\z")]
    private static partial Regex IdPattern();
}

/// <summary>A replay as it is kept on disk: what <c>GET /api/replay/{id}</c> shows, and where in its current object it is.</summary>
/// <param name="RowsDone">Rows of the window in object <see cref="ReplayStatus.ObjectsDone"/> already sent (or passed over).</param>
public sealed record ReplayProgress(ReplayStatus Status, int RowsDone);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ReplayProgress))]
internal sealed partial class ReplayJsonContext : JsonSerializerContext;
