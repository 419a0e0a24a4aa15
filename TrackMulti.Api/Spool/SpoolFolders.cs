using TrackMulti.Api.Model;

namespace TrackMulti.Api.Spool;

/// <summary>
/// <c>SPOOL_DIR</c> shared by replicas: each owns the sub-folder named by its instance id and holds an exclusive lock
/// on its <c>lock</c> file while it lives. The lock is <c>flock(2)</c> (what .NET takes for <c>FileShare.None</c> on
/// Linux), which the kernel releases when the process dies, however it dies. It holds across processes on a local
/// disk and on NFS (Amazon EFS, Azure Files NFS shares: Linux's NFS client turns it into an NFS lock); not on SMB/CIFS
/// mounts. A folder whose lock is free belongs to nobody and is adopted (<see cref="SpoolAdopter"/>).
/// </summary>
public static class SpoolFolders
{
    public const string LockFileName = "lock";

    /// <summary>The entries of a spool folder, which adopting it removes.</summary>
    public static readonly string[] Entries = ["open", "sealed", "cursors", "spare"];

    /// <summary>The folder in <c>SPOOL_DIR</c>, beside the replicas' own, where replays are kept (shared by them all).</summary>
    public const string ReplaysFolder = "replays";

    /// <summary>Names an instance id may not take.</summary>
    public static readonly string[] Reserved = [.. Entries, ReplaysFolder];

    /// <summary>Creates this replica's folder and locks it; fails when a live replica with the same id holds it.</summary>
    public static SpoolFolderLock LockOwn(string root, string instanceId)
    {
        if (Reserved.Contains(instanceId))
        {
            throw new ArgumentException($"INSTANCE_ID may not be '{instanceId}': the spool uses that name itself.");
        }
        var folder = Path.Combine(root, instanceId);
        for (var attempt = 1; ; attempt++)
        {
            Directory.CreateDirectory(folder);
            if (TryLock(folder) is { } held)
            {
                return held;
            }
            if (attempt == 3)
            {
                throw new IOException(
                    $"The spool folder {folder} is locked by a live replica: INSTANCE_ID '{instanceId}' is in use. Give each replica its own id, or none (a random one).");
            }
            Thread.Sleep(200); // another replica may be adopting a folder that was left empty under this name
        }
    }

    /// <summary>The lock on <paramref name="folder"/>, or null when a live process holds it (or the folder is gone).</summary>
    public static SpoolFolderLock? TryLock(string folder)
    {
        try
        {
            var file = new FileStream(Path.Combine(folder, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return new SpoolFolderLock(folder, file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Folders of other replicas (or of this one's earlier runs), and the root itself when it holds a one-replica spool.</summary>
    public static IEnumerable<string> Others(string root, string instanceId)
    {
        if (Directory.Exists(Path.Combine(root, "sealed")) || Directory.Exists(Path.Combine(root, "open")))
        {
            yield return root; // the layout before replicas shared SPOOL_DIR
        }
        foreach (var folder in Directory.EnumerateDirectories(root))
        {
            var name = Path.GetFileName(folder);
            if (name != instanceId && BatchKey.IsValidInstanceId(name) && !Reserved.Contains(name))
            {
                yield return folder;
            }
        }
    }
}

/// <summary>An exclusive lock on a spool folder, held until disposed (or until the process dies).</summary>
public sealed class SpoolFolderLock(string folder, FileStream file) : IDisposable
{
    public string Folder { get; } = folder;

    /// <summary>Removes the folder's spool (for the root, only the spool's own entries), then lets the lock go.</summary>
    public void DeleteFolder(bool isRoot)
    {
        foreach (var name in SpoolFolders.Entries)
        {
            var path = Path.Combine(Folder, name);
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        File.Delete(Path.Combine(Folder, "sequence"));
        // Unlinked while still held: a replica that opens the name afterwards locks a new file in an emptied folder.
        File.Delete(Path.Combine(Folder, SpoolFolders.LockFileName));
        if (!isRoot)
        {
            try
            {
                Directory.Delete(Folder);
            }
            catch (IOException)
            {
                // Another replica created its lock file meanwhile; it finds the folder empty and removes it.
            }
        }
        Dispose();
    }

    public void Dispose() => file.Dispose();
}
