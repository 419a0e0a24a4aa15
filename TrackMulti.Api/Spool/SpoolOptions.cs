using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;

namespace TrackMulti.Api.Spool;

/// <summary>Where acknowledged events wait on disk for S3, and how much disk they may take.</summary>
public sealed class SpoolOptions
{
    /// <summary>The spool folder. Relative paths resolve against the app's content root; default <c>.data/spool</c>.</summary>
    [ConfigurationKeyName("SPOOL_DIR")]
    public string? Directory { get; set; }

    /// <summary>
    /// Bound on spooled bytes (open segment plus sealed segments some sink still needs). Past it, <c>POST /api/track</c>
    /// answers 503 with <c>Retry-After</c>: the Api accepts nothing it cannot keep. Default 1 GiB.
    /// </summary>
    [ConfigurationKeyName("SPOOL_MAX_BYTES")]
    [Range(1024, long.MaxValue, ErrorMessage = "SPOOL_MAX_BYTES must be between {1} and {2}.")]
    public long MaxBytes { get; set; } = 1L << 30;

    public string ResolveDirectory(string contentRoot) =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(Directory) ? Path.Combine(".data", "spool") : Directory, contentRoot);
}
