using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using TrackMulti.Api.Model;

namespace TrackMulti.Api.Spool;

/// <summary>Where acknowledged events wait on disk for S3, and how much disk they may take.</summary>
public sealed class SpoolOptions
{
    /// <summary>
    /// The spool folder, which replicas may share: each writes in the sub-folder of its <see cref="InstanceId"/>.
    /// Relative paths resolve against the app's content root; default <c>.data/spool</c>.
    /// </summary>
    [ConfigurationKeyName("SPOOL_DIR")]
    public string? Directory { get; set; }

    /// <summary>Names this replica: its spool folder, and its part of every object key; random per process when unset.</summary>
    [ConfigurationKeyName("INSTANCE_ID")]
    [RegularExpression(BatchKey.InstanceIdPatternText, ErrorMessage = "INSTANCE_ID must be 1-32 characters of a-z, 0-9 and '-'.")]
    public string InstanceId { get; set; } = BatchKey.NewInstanceId();

    /// <summary>How often a replica looks for folders no live replica holds, to adopt them (<c>SPOOL_ADOPT_SECONDS</c>; also at start).</summary>
    [ConfigurationKeyName("SPOOL_ADOPT_SECONDS")]
    [Range(0.1, 86_400, ErrorMessage = "SPOOL_ADOPT_SECONDS must be between {1} and {2}.")]
    public double AdoptSeconds { get; set; } = 30;

    /// <summary>
    /// Bound on spooled bytes (open segment plus sealed segments some sink still needs). Past it, <c>POST /api/track</c>
    /// answers 503 with <c>Retry-After</c>: the Api accepts nothing it cannot keep. Default 1 GiB.
    /// </summary>
    [ConfigurationKeyName("SPOOL_MAX_BYTES")]
    [Range(1024, long.MaxValue, ErrorMessage = "SPOOL_MAX_BYTES must be between {1} and {2}.")]
    public long MaxBytes { get; set; } = 1L << 30;

    public string ResolveDirectory(string contentRoot) =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(Directory) ? Path.Combine(".data", "spool") : Directory, contentRoot);

    /// <summary>
    /// When an append is answered (<c>SPOOL_SYNC</c>): <c>always</c> (default) once it is fsynced; <c>interval</c> once the
    /// OS has it, with an fdatasync in the background every <see cref="SyncIntervalMilliseconds"/> (survives a crash or
    /// SIGKILL of the Api, not a power cut within the interval).
    /// </summary>
    [ConfigurationKeyName("SPOOL_SYNC")]
    public SpoolSync Sync { get; set; } = SpoolSync.Always;

    /// <summary>With <c>SPOOL_SYNC=interval</c>, how long written data waits before its fdatasync starts (<c>SPOOL_SYNC_INTERVAL_MS</c>);
    /// one sync at a time, so on a slow disk the next starts when the one before ends.</summary>
    [ConfigurationKeyName("SPOOL_SYNC_INTERVAL_MS")]
    [Range(1, 10_000, ErrorMessage = "SPOOL_SYNC_INTERVAL_MS must be between {1} and {2}.")]
    public int SyncIntervalMilliseconds { get; set; } = 200;

    /// <summary>The longest an answered append may wait for its flush to disk; null when every answer waits for it.</summary>
    public TimeSpan? SyncInterval => Sync == SpoolSync.Interval ? TimeSpan.FromMilliseconds(SyncIntervalMilliseconds) : null;
}

public enum SpoolSync
{
    /// <summary>fsync before the answer: an acknowledged event survives a power cut.</summary>
    Always,

    /// <summary>Answer once written to the OS; fdatasync every interval: survives a crash of the Api, not of the machine.</summary>
    Interval,
}
