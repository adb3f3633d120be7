//! The messages of an `ExportMetricsServiceRequest` read in place ([`crate::wire`]): first an
//! [`Outline`] of its resources, scopes and metrics down to each data point's bytes (which also
//! tells how large the batch will be), then each point's fields as it is converted.
//!
//! Field numbers are `opentelemetry-proto`'s `metrics.proto`, `common.proto` and
//! `resource.proto` (v1.7). Fields the conversion does not use are still read as prost reads
//! them (schema URLs, scope attributes, metric metadata, entity references), so that a request
//! prost refuses is refused here too.

use std::ops::Range;

use crate::wire::{check_key_value, last_str, once, Message, Result, Value, WireError};

/// What a metric says about its points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Gauge,
    Sum { is_monotonic: bool, temporality: i32 },
    Histogram { temporality: i32 },
    Exponential { temporality: i32 },
    Summary,
}

pub(super) struct ResourceOutline {
    /// Its attributes, in [`Outline::resource_attributes`].
    pub attributes: Range<usize>,
    pub scopes: Range<usize>,
    pub encoded_attribute_bytes: usize,
}

pub(super) struct ScopeOutline<'a> {
    pub name: Option<&'a str>,
    pub version: Option<&'a str>,
    pub metrics: Range<usize>,
}

pub(super) struct MetricOutline<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub unit: &'a str,
    /// `None`: the metric has no data (and so no points).
    pub kind: Option<Kind>,
    pub points: Range<usize>,
}

/// A request's structure above its data points, in flat lists.
#[derive(Default)]
pub(super) struct Outline<'a> {
    pub resources: Vec<ResourceOutline>,
    pub resource_attributes: Vec<Message<'a>>,
    pub scopes: Vec<ScopeOutline<'a>>,
    pub metrics: Vec<MetricOutline<'a>>,
    pub points: Vec<Message<'a>>,
    /// Encoded bytes of all points (an upper bound of their attribute text).
    pub point_bytes: usize,
}

impl<'a> Outline<'a> {
    pub fn read(bytes: &'a [u8]) -> Result<Self> {
        let request = Message::top(bytes);
        let mut outline = Outline::default();
        for field in request.fields() {
            match field? {
                (1, v) => outline.resource(request.nested(v)?)?,
                _ => request.unknown()?,
            }
        }
        Ok(outline)
    }

    fn resource(&mut self, rm: Message<'a>) -> Result<()> {
        let mut resource = None;
        let scopes_start = self.scopes.len();
        for field in rm.fields() {
            match field? {
                (1, v) => once(&mut resource, rm, v)?,
                (2, v) => self.scope(rm.nested(v)?)?,
                (3, v) => drop(v.str()?), // schema_url
                _ => rm.unknown()?,
            }
        }
        let attributes_start = self.resource_attributes.len();
        let mut encoded_attribute_bytes = 0;
        if let Some(resource) = resource {
            for field in resource.fields() {
                match field? {
                    (1, v) => {
                        let kv = resource.nested(v)?;
                        encoded_attribute_bytes += v.bytes()?.len();
                        self.resource_attributes.push(kv);
                    }
                    (2, v) => drop(v.uint32()?), // dropped_attributes_count
                    (3, v) => entity_ref(resource.nested(v)?)?,
                    _ => resource.unknown()?,
                }
            }
        }
        self.resources.push(ResourceOutline {
            attributes: attributes_start..self.resource_attributes.len(),
            scopes: scopes_start..self.scopes.len(),
            encoded_attribute_bytes,
        });
        Ok(())
    }

    fn scope(&mut self, sm: Message<'a>) -> Result<()> {
        let mut scope = None;
        let metrics_start = self.metrics.len();
        for field in sm.fields() {
            match field? {
                (1, v) => once(&mut scope, sm, v)?,
                (2, v) => self.metric(sm.nested(v)?)?,
                (3, v) => drop(v.str()?), // schema_url
                _ => sm.unknown()?,
            }
        }
        let (mut name, mut version) = (None, None);
        if let Some(scope) = scope {
            let (mut n, mut ver) = ("", "");
            for field in scope.fields() {
                match field? {
                    (1, v) => last_str(&mut n, v)?,
                    (2, v) => last_str(&mut ver, v)?,
                    (3, v) => check_key_value(scope.nested(v)?)?, // scope attributes: not stored
                    (4, v) => drop(v.uint32()?),
                    _ => scope.unknown()?,
                }
            }
            (name, version) = (Some(n), Some(ver));
        }
        self.scopes.push(ScopeOutline { name, version, metrics: metrics_start..self.metrics.len() });
        Ok(())
    }

    fn metric(&mut self, m: Message<'a>) -> Result<()> {
        let (mut name, mut description, mut unit) = ("", "", "");
        let mut data: Option<(u32, Message<'a>)> = None;
        for field in m.fields() {
            match field? {
                (1, v) => last_str(&mut name, v)?,
                (2, v) => last_str(&mut description, v)?,
                (3, v) => last_str(&mut unit, v)?,
                (tag @ (5 | 7 | 9 | 10 | 11), v) => {
                    // A oneof of messages sent twice is merged or replaced by prost: left to it.
                    if data.is_some() {
                        return Err(WireError::Merge);
                    }
                    data = Some((tag, m.nested(v)?));
                }
                (12, v) => check_key_value(m.nested(v)?)?, // metadata: not stored
                _ => m.unknown()?,
            }
        }
        let points_start = self.points.len();
        let kind = match data {
            None => None,
            Some((tag, data)) => Some(self.data(tag, data)?),
        };
        self.metrics.push(MetricOutline { name, description, unit, kind, points: points_start..self.points.len() });
        Ok(())
    }

    /// A `Gauge` (tag 5), `Sum` (7), `Histogram` (9), `ExponentialHistogram` (10) or `Summary` (11).
    fn data(&mut self, tag: u32, data: Message<'a>) -> Result<Kind> {
        let (mut temporality, mut is_monotonic) = (0, false);
        for field in data.fields() {
            match field? {
                (1, v) => {
                    self.point_bytes += v.bytes()?.len();
                    self.points.push(data.nested(v)?);
                }
                (2, v) if tag != 5 && tag != 11 => temporality = v.int32()?,
                (3, v) if tag == 7 => is_monotonic = v.bool()?,
                _ => data.unknown()?,
            }
        }
        Ok(match tag {
            5 => Kind::Gauge,
            7 => Kind::Sum { is_monotonic, temporality },
            9 => Kind::Histogram { temporality },
            10 => Kind::Exponential { temporality },
            _ => Kind::Summary,
        })
    }
}

/// An `EntityRef` of a resource: four strings, read only to be checked.
fn entity_ref(e: Message<'_>) -> Result<()> {
    for field in e.fields() {
        match field? {
            (1..=4, v) => drop(v.str()?),
            _ => e.unknown()?,
        }
    }
    Ok(())
}

/// One data point's fields, of any kind (what a kind does not have stays at its default).
#[derive(Default)]
pub(super) struct PointFields<'a> {
    pub time: u64,
    pub start: u64,
    pub flags: u32,
    /// Gauge/sum: `as_double` or `as_int`, whichever came last.
    pub number: Option<Number>,
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub scale: i32,
    pub zero_count: u64,
    pub zero_threshold: f64,
    pub positive_offset: i32,
    pub negative_offset: i32,
    positive_seen: bool,
    negative_seen: bool,
    /// The point's attribute fields as encoded, when they lie together (as every encoder writes
    /// them; `None` if other fields come between them): the key of its series row
    /// ([`super::series_rows`]).
    pub attributes_encoded: Option<&'a [u8]>,
    pub lists: PointLists<'a>,
}

/// The repeated fields of a point, kept from one point to the next so that their buffers are
/// allocated once.
#[derive(Default)]
pub(super) struct PointLists<'a> {
    pub attributes: Vec<Message<'a>>,
    pub exemplars: Vec<Message<'a>>,
    pub bucket_counts: Vec<u64>,
    pub explicit_bounds: Vec<f64>,
    pub positive: Vec<u64>,
    pub negative: Vec<u64>,
    pub quantiles: Vec<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Number {
    Double(f64),
    Int(i64),
}

impl<'a> PointFields<'a> {
    /// Reads `point` of `kind` into `self`, reusing its lists.
    pub fn read(&mut self, kind: Kind, point: Message<'a>) -> Result<()> {
        let mut lists = std::mem::take(&mut self.lists);
        lists.attributes.clear();
        lists.exemplars.clear();
        lists.bucket_counts.clear();
        lists.explicit_bounds.clear();
        lists.positive.clear();
        lists.negative.clear();
        lists.quantiles.clear();
        *self = PointFields { lists, ..Default::default() };
        match kind {
            Kind::Gauge | Kind::Sum { .. } => self.read_fields(point, 7, Self::number),
            Kind::Histogram { .. } => self.read_fields(point, 9, Self::histogram),
            Kind::Exponential { .. } => self.read_fields(point, 1, Self::exponential),
            Kind::Summary => self.read_fields(point, 7, Self::summary),
        }
    }

    /// Reads the fields of `p`: its attributes (field `attributes_tag`) here, where their
    /// encoded run is noted, every other field by `field`.
    fn read_fields(
        &mut self,
        p: Message<'a>,
        attributes_tag: u32,
        field: fn(&mut Self, Message<'a>, u32, Value<'a>) -> Result<()>,
    ) -> Result<()> {
        let (len, mut fields) = (p.bytes().len(), p.fields());
        let (mut run, mut together) = (None::<(usize, usize)>, true);
        loop {
            let start = len - fields.remaining();
            let Some(next) = fields.next() else { break };
            let (tag, value) = next?;
            if tag != attributes_tag {
                field(self, p, tag, value)?;
                continue;
            }
            self.lists.attributes.push(p.nested(value)?);
            let end = len - fields.remaining();
            run = match run {
                None => Some((start, end)),
                Some((first, last)) if last == start => Some((first, end)),
                Some(apart) => {
                    together = false;
                    Some(apart)
                }
            };
        }
        self.attributes_encoded = match (together, run) {
            (false, _) => None,
            (true, None) => Some(&[]),
            (true, Some((first, end))) => Some(&p.bytes()[first..end]),
        };
        Ok(())
    }

    fn number(&mut self, p: Message<'a>, tag: u32, v: Value<'a>) -> Result<()> {
        match tag {
            2 => self.start = v.fixed64()?,
            3 => self.time = v.fixed64()?,
            4 => self.number = Some(Number::Double(v.double()?)),
            6 => self.number = Some(Number::Int(v.fixed64()? as i64)),
            5 => self.lists.exemplars.push(p.nested(v)?),
            8 => self.flags = v.uint32()?,
            _ => p.unknown()?,
        }
        Ok(())
    }

    fn histogram(&mut self, p: Message<'a>, tag: u32, v: Value<'a>) -> Result<()> {
        match tag {
            2 => self.start = v.fixed64()?,
            3 => self.time = v.fixed64()?,
            4 => self.count = v.fixed64()?,
            5 => self.sum = Some(v.double()?),
            6 => v.fixed64s(&mut self.lists.bucket_counts)?,
            7 => v.doubles(&mut self.lists.explicit_bounds)?,
            8 => self.lists.exemplars.push(p.nested(v)?),
            10 => self.flags = v.uint32()?,
            11 => self.min = Some(v.double()?),
            12 => self.max = Some(v.double()?),
            _ => p.unknown()?,
        }
        Ok(())
    }

    fn exponential(&mut self, p: Message<'a>, tag: u32, v: Value<'a>) -> Result<()> {
        match tag {
            2 => self.start = v.fixed64()?,
            3 => self.time = v.fixed64()?,
            4 => self.count = v.fixed64()?,
            5 => self.sum = Some(v.double()?),
            6 => self.scale = v.sint32()?,
            7 => self.zero_count = v.fixed64()?,
            8 => self.positive_offset = buckets(&mut self.positive_seen, p, v, &mut self.lists.positive)?,
            9 => self.negative_offset = buckets(&mut self.negative_seen, p, v, &mut self.lists.negative)?,
            10 => self.flags = v.uint32()?,
            11 => self.lists.exemplars.push(p.nested(v)?),
            12 => self.min = Some(v.double()?),
            13 => self.max = Some(v.double()?),
            14 => self.zero_threshold = v.double()?,
            _ => p.unknown()?,
        }
        Ok(())
    }

    fn summary(&mut self, p: Message<'a>, tag: u32, v: Value<'a>) -> Result<()> {
        match tag {
            2 => self.start = v.fixed64()?,
            3 => self.time = v.fixed64()?,
            4 => self.count = v.fixed64()?,
            5 => self.sum = Some(v.double()?),
            6 => {
                let q = p.nested(v)?;
                let (mut quantile, mut value) = (0.0, 0.0);
                for field in q.fields() {
                    match field? {
                        (1, v) => quantile = v.double()?,
                        (2, v) => value = v.double()?,
                        _ => q.unknown()?,
                    }
                }
                self.lists.quantiles.push((quantile, value));
            }
            8 => self.flags = v.uint32()?,
            _ => p.unknown()?,
        }
        Ok(())
    }
}

/// An exponential histogram's `Buckets` (singular: `seen` refuses a second one): its offset,
/// its counts into `counts`.
fn buckets(seen: &mut bool, point: Message<'_>, value: Value<'_>, counts: &mut Vec<u64>) -> Result<i32> {
    if std::mem::replace(seen, true) {
        return Err(WireError::Merge);
    }
    let b = point.nested(value)?;
    let mut offset = 0;
    for field in b.fields() {
        match field? {
            (1, v) => offset = v.sint32()?,
            (2, v) => v.varints(counts)?,
            _ => b.unknown()?,
        }
    }
    Ok(offset)
}

/// An `Exemplar`'s fields; its filtered attributes appended to `attributes`.
pub(super) struct ExemplarFields<'a> {
    pub time: u64,
    pub value: Option<Number>,
    pub trace_id: &'a [u8],
    pub span_id: &'a [u8],
}

pub(super) fn exemplar<'a>(e: Message<'a>, attributes: &mut Vec<Message<'a>>) -> Result<ExemplarFields<'a>> {
    let mut out = ExemplarFields { time: 0, value: None, trace_id: &[], span_id: &[] };
    for field in e.fields() {
        match field? {
            (7, v) => attributes.push(e.nested(v)?),
            (2, v) => out.time = v.fixed64()?,
            (3, v) => out.value = Some(Number::Double(v.double()?)),
            (6, v) => out.value = Some(Number::Int(v.fixed64()? as i64)),
            (4, v) => out.span_id = v.bytes()?,
            (5, v) => out.trace_id = v.bytes()?,
            _ => e.unknown()?,
        }
    }
    Ok(out)
}

/// Reads the parts of a point the conversion did not reach (it was rejected first), only to
/// check them as prost would have.
pub(super) fn check_rest(point: &PointFields<'_>) -> Result<()> {
    for kv in &point.lists.attributes {
        check_key_value(*kv)?;
    }
    let mut attributes = Vec::new();
    for e in &point.lists.exemplars {
        exemplar(*e, &mut attributes)?;
    }
    for kv in attributes {
        check_key_value(kv)?;
    }
    Ok(())
}
