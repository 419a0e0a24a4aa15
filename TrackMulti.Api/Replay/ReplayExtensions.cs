using Microsoft.Extensions.Options;
using TrackMulti.Api.Spool;

namespace TrackMulti.Api.Replay;

public static class ReplayExtensions
{
    /// <summary>
    /// Replays from S3 to FME, their store in <c>SPOOL_DIR/replays</c> (shared by the replicas). Call after the sinks
    /// and the producers: it stops first, before what it posts through.
    /// </summary>
    public static IHostApplicationBuilder AddReplay(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton(sp => new ReplayStore(Path.Combine(
            sp.GetRequiredService<IOptions<SpoolOptions>>().Value.ResolveDirectory(builder.Environment.ContentRootPath), ReplayStore.FolderName)));
        builder.Services.AddSingleton<ReplayService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ReplayService>());
        return builder;
    }
}
